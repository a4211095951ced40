// The event chain as stored by a running runtime: what it records for the examples, and
// `theater verify` naming the first broken link when someone edits the store (a flipped byte in
// an event, an edited hash, a deleted event, an edited state row). `theater events` filters.
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "base/process.hpp"
#include "state_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;

class ChainTest : public StateTest {
 protected:
  // A counter that handled a few requests, then the runtime stopped (graceful).
  std::string record_counter() {
    open(config());
    auto id = runtime->spawn(example("counter"));
    for (const char* m : {"inc", "add 5", "get", "inc"}) EXPECT_EQ(runtime->request(id, m).rc, abi::kOk);
    runtime.reset();
    return id;
  }
  // Runs SQL on the data dir's database directly, as someone editing the file would.
  void edit(const std::string& sql, const std::function<void(sqlite3_stmt*)>& bind = {}) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "theater.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    if (bind) bind(s);
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE) << sqlite3_errmsg(db);
    EXPECT_EQ(sqlite3_changes(db), 1);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
  std::string column(const std::string& sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir / "theater.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW) {
      out.assign(static_cast<const char*>(sqlite3_column_blob(s, 0)), static_cast<size_t>(sqlite3_column_bytes(s, 0)));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }
  ProcessResult theater(std::vector<std::string> args) {
    args.insert(args.begin(), theater_binary());
    return run_process(args);
  }
};

TEST_F(ChainTest, RecordsWhatTheCounterDid) {
  const auto id = record_counter();
  auto store = state::Store::open_read_only(dir);
  std::vector<std::string> types;
  for (const auto& e : store->events(id)) types.push_back(state::to_string(e.type));
  const std::vector<std::string> expected = {"created",  "init",     "received", "committed", "replied",
                                             "received", "committed", "replied", "received", "replied",
                                             "received", "committed", "replied", "stop"};
  EXPECT_EQ(types, expected);
  EXPECT_FALSE(store->verify(id));
  auto last_commit = store->events(id, {.types = {state::EventType::Committed}}).back();
  EXPECT_EQ(state::describe(last_commit)["state_sha256"], state::hex(state::sha256("7")));
}

TEST_F(ChainTest, VerifyNamesAFlippedByte) {
  const auto id = record_counter();
  EXPECT_EQ(theater({"verify", id, "--data", dir.string()}).exit_code, 0);
  // Flip one bit of event 6's payload (the "add 5" message).
  auto payload = column("SELECT payload FROM events WHERE seq = 6");
  ASSERT_FALSE(payload.empty());
  payload[payload.size() - 1] ^= 0x01;  // "add 5" -> "add 4"
  edit("UPDATE events SET payload = ? WHERE seq = 6",
       [&](sqlite3_stmt* s) { sqlite3_bind_blob(s, 1, payload.data(), static_cast<int>(payload.size()), SQLITE_TRANSIENT); });
  auto r = theater({"verify", "counter", "--data", dir.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("first broken link at event 6"), std::string::npos) << r.output;
  auto json = theater({"verify", "--all", "--data", dir.string(), "--json"});
  EXPECT_EQ(nlohmann::json::parse(json.output)["broken_at"], 6);
}

TEST_F(ChainTest, VerifyNamesAnEditedHashADeletedEventAndAnEditedState) {
  const auto id = record_counter();
  edit("UPDATE events SET hash = zeroblob(32) WHERE seq = 3");
  auto store = state::Store::open_read_only(dir);
  ASSERT_TRUE(store->verify(id));
  EXPECT_EQ(store->verify(id)->seq, 3u);

  TearDown();
  SetUp();
  record_counter();
  edit("DELETE FROM events WHERE seq = 9");
  store = state::Store::open_read_only(dir);
  ASSERT_TRUE(store->verify(store->resolve_actor("counter")));
  EXPECT_EQ(store->verify(store->resolve_actor("counter"))->seq, 9u);

  TearDown();
  SetUp();
  record_counter();
  edit("UPDATE actors SET state = '70'");
  store = state::Store::open_read_only(dir);
  const auto broken = store->verify(store->resolve_actor("counter"));
  ASSERT_TRUE(broken);
  EXPECT_NE(broken->reason.find("state row was changed"), std::string::npos) << broken->reason;
}

TEST_F(ChainTest, EventsFiltersByTypeAndTimeAndPrintsJson) {
  const auto id = record_counter();
  auto r = theater({"events", "counter", "--data", dir.string(), "--type", "received", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> texts;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["type"], "received");
    EXPECT_EQ(j["actor"], id);
    texts.push_back(j["bytes"]["text"]);
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"inc", "add 5", "get", "inc"}));
  EXPECT_EQ(theater({"events", id, "--data", dir.string(), "--until", "1000"}).output, "");
  auto recent = theater({"events", id, "--data", dir.string(), "--since", "-1h", "--type", "committed"});
  EXPECT_EQ(std::count(recent.output.begin(), recent.output.end(), '\n'), 3) << recent.output;
  auto bad = theater({"events", id, "--data", dir.string(), "--type", "nonsense"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("no event type 'nonsense'"), std::string::npos);
}

TEST_F(ChainTest, PayloadsCanBeTurnedOffPerActor) {
  open(config());
  auto m = example("counter");
  m.store_payloads = false;
  auto id = runtime->spawn(m);
  ASSERT_EQ(runtime->request(id, "add 12345").reply, "12345");
  runtime.reset();
  auto store = state::Store::open_read_only(dir);
  auto received = store->events(id, {.types = {state::EventType::Received}});
  ASSERT_EQ(received.size(), 1u);
  auto j = state::describe(received[0]);
  EXPECT_EQ(j["bytes"]["stored"], false);
  EXPECT_EQ(j["bytes"]["sha256"], state::hex(state::sha256("add 12345")));
  EXPECT_FALSE(store->verify(id));
}

}  // namespace theater::test
