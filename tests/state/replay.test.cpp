// Replay (theater replay, state::replay): recorded runs of the examples and test actors come out
// bit for bit the same — every state hash, reply and host call — through failures and restarts,
// hibernation, a recovery, an upgrade and a rollback, on either engine tier; a planted
// non-determinism (a host result that differs from the recorded one) is reported at the first
// state commit it changes.
#include <nlohmann/json.hpp>

#include "base/process.hpp"
#include "state/replay.hpp"
#include "state_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;

class ReplayTest : public StateTest {
 protected:
  // Every actor in the store replays; returns the reports.
  std::vector<state::ReplayReport> replay_all(const state::ReplayOptions& options = {}) {
    auto store = state::Store::open_read_only(dir);
    BlobStore blobs(dir / "blobs");
    std::vector<state::ReplayReport> out;
    for (const auto& a : store->actors()) out.push_back(state::replay(*store, blobs, a.id, options));
    return out;
  }
  void expect_all_replay(const state::ReplayOptions& options = {}) {
    auto reports = replay_all(options);
    EXPECT_FALSE(reports.empty());
    for (const auto& r : reports) {
      EXPECT_TRUE(r.ok) << r.actor << ": " << r.message;
      EXPECT_EQ(r.handlers_skipped, 0u) << r.actor;
    }
  }
};

TEST_F(ReplayTest, TheExamplesReplayBitForBit) {
  open(config());
  // The demo tree, with crashes and restarts.
  const auto sup = runtime->spawn(example("demo"));
  for (const char* m : {"to counter inc", "to counter add 5", "to echo hello", "to crasher trap", "to crasher x",
                        "to crasher fail", "to crasher status", "to counter get", "children", "state counter"}) {
    runtime->request(sup, m);
    settle();
  }
  // ping and pong: requests, spawn, list_children, the clock.
  const auto ping = runtime->spawn(example("ping"));
  ASSERT_EQ(runtime->request(ping, "run 20").rc, abi::kOk);
  // Outside data: random bytes, time, the WASI clock and entropy, blobs, a timer.
  const auto rec = runtime->spawn(example("recorder"));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(runtime->request(rec, "roll").rc, abi::kOk);
  ASSERT_EQ(runtime->send(rec, "tick 5"), abi::kOk);
  std::this_thread::sleep_for(50ms);
  settle();
  // A restart from outside (theater_shutdown, then init reason 1).
  ASSERT_TRUE(runtime->restart(rec));
  ASSERT_EQ(runtime->request(rec, "roll").rc, abi::kOk);
  runtime.reset();
  // Recovered (init reason 3) and used again.
  open(config());
  ASSERT_EQ(runtime->recover().size(), 3u);
  ASSERT_EQ(runtime->request(rec, "roll").rc, abi::kOk);
  ASSERT_EQ(runtime->request(ping, "run 3").rc, abi::kOk);
  ASSERT_EQ(runtime->request(sup, "to counter inc").reply, "7");
  runtime.reset();

  expect_all_replay();
  // The interpreter computes the same states as the AOT code that was recorded.
  expect_all_replay({.tier = engine::Tier::Interp, .perturb = {}});
  // The command says the same.
  auto r = run_process({theater_binary(), "replay", "--all", "--data", dir.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) EXPECT_TRUE(nlohmann::json::parse(line)["ok"]) << line;
  EXPECT_EQ(n, 7);  // supervisor, counter, echo, crasher, ping, pong, recorder
}

TEST_F(ReplayTest, HibernationUpgradeAndRollbackReplay) {
  open(config());
  auto m = example("versioned");
  m.limits.hibernate_after_ms = 20;
  std::atomic<bool> hibernated{false};
  runtime->observe([&](const Event& e) {
    if (e.type == "hibernated") hibernated = true;
  });
  const auto id = runtime->spawn(m);
  ASSERT_EQ(runtime->request(id, "inc").reply, "1");
  // It hibernates: the next message gets a fresh instance (reason 3).
  for (int i = 0; i < 1000 && !hibernated; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(hibernated);
  ASSERT_EQ(runtime->request(id, "inc").reply, "2");
  ASSERT_FALSE(runtime->upgrade(id, examples_dir() / "versioned_broken.wasm").ok);
  ASSERT_EQ(runtime->request(id, "inc").reply, "3");
  ASSERT_TRUE(runtime->upgrade(id, examples_dir() / "versioned_v2.wasm").ok);
  ASSERT_EQ(runtime->request(id, "get").reply, "v2 count=3 init=2");
  runtime.reset();
  auto store = state::Store::open_read_only(dir);
  std::vector<int> reasons;
  for (const auto& e : store->events(id, {.types = {state::EventType::Init}})) reasons.push_back(state::describe(e)["reason"]);
  ASSERT_GE(reasons.size(), 4u);
  EXPECT_EQ(reasons[0], 0);
  EXPECT_EQ(reasons[1], 3);                                  // resumed after hibernating
  EXPECT_EQ(std::count(reasons.begin(), reasons.end(), 2), 2);  // the broken version, then v2
  expect_all_replay();
}

TEST_F(ReplayTest, ATimedOutHandlerIsSkipped) {
  open(config());
  auto m = example("crasher");
  m.limits.handler_timeout_ms = 200;
  const auto id = runtime->spawn(m);
  ASSERT_EQ(runtime->request(id, "a").rc, abi::kOk);
  ASSERT_EQ(runtime->request(id, "loop").rc, abi::kEFAILED);
  settle();
  ASSERT_EQ(runtime->request(id, "b").reply, "ok, handled 2");
  runtime.reset();
  auto reports = replay_all();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].ok) << reports[0].message;
  EXPECT_EQ(reports[0].handlers_skipped, 1u);
  EXPECT_EQ(reports[0].commits_checked, 2u);
}

TEST_F(ReplayTest, APlantedNonDeterminismIsReported) {
  open(config());
  const auto id = runtime->spawn(example("recorder"));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(runtime->request(id, "roll").rc, abi::kOk);
  runtime.reset();
  auto store = state::Store::open_read_only(dir);
  BlobStore blobs(dir / "blobs");
  // The second roll's random bytes come out different, as from a source the chain did not record
  // (the last byte goes only into the state; the first ones also into a blob it stores).
  int fills = 0;
  state::ReplayOptions options;
  options.perturb = [&](state::HostCall call, state::HostOutcome& out) {
    if (call == state::HostCall::RandomFill && ++fills == 2) out.bytes[7] ^= 0x40;
  };
  const auto report = state::replay(*store, blobs, id, options);
  EXPECT_FALSE(report.ok);
  const auto commits = store->events(id, {.types = {state::EventType::Committed}});
  ASSERT_EQ(commits.size(), 3u);
  ASSERT_TRUE(report.diverged_at);
  EXPECT_EQ(*report.diverged_at, commits[1].seq) << report.message;  // the second commit is the first to differ
  EXPECT_NE(report.message.find("committed"), std::string::npos) << report.message;
  EXPECT_NE(report.message.find("roll"), std::string::npos) << report.message;  // names the message it replayed
  EXPECT_EQ(report.commits_checked, 2u);
  // Changed earlier bytes show first where they go out: in the blob the actor stores.
  fills = 0;
  options.perturb = [&](state::HostCall call, state::HostOutcome& out) {
    if (call == state::HostCall::RandomFill && ++fills == 2) out.bytes[0] ^= 0x40;
  };
  const auto early = state::replay(*store, blobs, id, options);
  ASSERT_TRUE(early.diverged_at);
  EXPECT_LT(*early.diverged_at, commits[1].seq);
  EXPECT_NE(early.message.find("store_put"), std::string::npos) << early.message;
}

TEST_F(ReplayTest, AnEditedInputIsReportedByTheCommand) {
  open(config());
  const auto id = runtime->spawn(example("counter"));
  for (const char* m : {"inc", "add 5", "inc"}) ASSERT_EQ(runtime->request(id, m).rc, abi::kOk);
  runtime.reset();
  // Forge a consistent chain whose recorded input says "add 6": verify cannot tell (the chain was
  // rewritten from there on), replay can, since the states no longer follow from the inputs.
  edit_events(id, [](auto& events) {
    state::Hash prev{};
    for (auto& e : events) {
      if (e.type == state::EventType::Received && state::describe(e)["bytes"]["text"] == "add 5") {
        e.payload.clear();
        state::PayloadWriter(e.payload).u8(1).str("external").str("").i64(0).blob("add 6", 1 << 16);
      }
      e.hash = state::event_hash(prev, e.seq, e.time_ms, e.type, e.payload);
      prev = e.hash;
    }
  });
  EXPECT_EQ(run_process({theater_binary(), "verify", id, "--data", dir.string()}).exit_code, 0);
  auto r = run_process({theater_binary(), "replay", "counter", "--data", dir.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("DIVERGED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(committed)"), std::string::npos) << r.output;
}

}  // namespace theater::test
