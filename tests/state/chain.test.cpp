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
  void edit_sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "theater.db").c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    EXPECT_GE(sqlite3_changes(db), 1);
    sqlite3_close(db);
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
  edit_events(id, [](auto& events) {
    ASSERT_EQ(events[5].seq, 6u);
    ASSERT_EQ(events[5].payload.back(), '5');
    events[5].payload.back() ^= 0x01;  // "add 5" -> "add 4"
  });
  auto r = theater({"verify", "counter", "--data", dir.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("first broken link at event 6"), std::string::npos) << r.output;
  auto json = theater({"verify", "--all", "--data", dir.string(), "--json"});
  EXPECT_EQ(nlohmann::json::parse(json.output)["broken_at"], 6);
}

TEST_F(ChainTest, VerifyNamesAnEditedHashADeletedEventAndAnEditedState) {
  const auto id = record_counter();
  edit_events(id, [](auto& events) { events[2].hash = {}; });
  auto store = state::Store::open_read_only(dir);
  ASSERT_TRUE(store->verify(id));
  EXPECT_EQ(store->verify(id)->seq, 3u);

  TearDown();
  SetUp();
  const auto id2 = record_counter();
  edit_events(id2, [](auto& events) { events.erase(events.begin() + 8); });
  store = state::Store::open_read_only(dir);
  ASSERT_TRUE(store->verify(store->resolve_actor("counter")));
  EXPECT_EQ(store->verify(store->resolve_actor("counter"))->seq, 9u);

  TearDown();
  SetUp();
  record_counter();
  edit_sql("UPDATE actors SET state = '70'");
  store = state::Store::open_read_only(dir);
  const auto broken = store->verify(store->resolve_actor("counter"));
  ASSERT_TRUE(broken);
  EXPECT_NE(broken->reason.find("state row was changed"), std::string::npos) << broken->reason;
}

TEST_F(ChainTest, VerifyNamesAnUnreadableSegment) {
  const auto id = record_counter();
  // The first row cut short: it no longer parses.
  edit_sql("UPDATE events SET data = substr(data, 1, length(data) - 5) WHERE first_seq = 1");
  auto store = state::Store::open_read_only(dir);
  const auto broken = store->verify(id);
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->seq, 1u) << broken->reason;
  auto r = theater({"verify", id, "--data", dir.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("first broken link at event 1"), std::string::npos) << r.output;
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
