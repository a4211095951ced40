// Stopping and watching, with the sv_node test actor (tests/actors/sv_node.c), on both tiers:
// the shutdown deadline ([limits] shutdown_timeout_ms: a handler or a theater_shutdown that does
// not finish in time is killed and the stop goes on) and monitors (any actor may watch any other;
// theater_handle_down says why it is gone). docs/supervision.md describes both.
#include "../runtime/runtime_fixture.hpp"

#include "base/files.hpp"
#include "base/sha256.hpp"

namespace theater::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class LifecycleTest : public RuntimeTest {
 protected:
  void TearDown() override {
    RuntimeTest::TearDown();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Manifest node(const std::string& name, bool hang_shutdown = false) {
    auto m = example("sv_node");
    m.name = name;
    if (hang_shutdown) {
      m.environment = {{"SV_HANG_SHUTDOWN", "1"}};
      m.limits.shutdown_timeout_ms = 200;
    }
    return m;
  }
  std::string ask(const std::string& id, const std::string& msg) {
    auto r = runtime->request(id, msg, 10s);
    EXPECT_EQ(r.rc, abi::kOk) << msg << " -> " << abi::rc_name(r.rc);
    return r.reply;
  }
  // Writes a manifest for sv_node (name, extra TOML) into a folder of its own; returns its path.
  std::filesystem::path manifest_file(const std::string& name, const std::string& extra) {
    if (dir_.empty()) {
      dir_ = std::filesystem::temp_directory_path() / ("theater-lifecycle-" + std::to_string(::getpid()));
      std::filesystem::create_directories(dir_);
    }
    const auto path = dir_ / (name + ".toml");
    write_file_atomic(path, "name = \"" + name + "\"\ncomponent = \"" + (examples_dir() / "sv_node.wasm").string() +
                                "\"\nhandlers = [\"message-server\", \"supervisor\", \"store\"]\n" + extra);
    return path;
  }
  // An sv_node kept too busy to answer anything until it is stopped (a 200 ms deadline).
  std::string spawn_too_busy_to_answer() {
    auto busy = node("busy");
    busy.limits.handler_timeout_ms = 30000;
    busy.limits.shutdown_timeout_ms = 200;
    const auto id = runtime->spawn(busy);
    EXPECT_EQ(runtime->send(id, "hang"), abi::kOk);
    return id;
  }
  // Stops `id`, whose theater_shutdown (200 ms deadline) stages "shutdown-started" and does not
  // end by itself, and checks that it was killed at the deadline, within `within`.
  void expect_stop_kills_at_deadline(const std::string& id, Clock::duration within) {
    auto actor = runtime->find(id);
    const auto t0 = Clock::now();
    ASSERT_TRUE(runtime->stop(id));
    const auto took = Clock::now() - t0;
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, within) << "the shutdown ran on past its deadline";
    EXPECT_EQ(actor->status(), ActorStatus::Stopped);
    // Killed: what its theater_shutdown staged is dropped with the instance.
    EXPECT_NE(actor->committed_state(), "shutdown-started");
    EXPECT_EQ(events_of(id, "killed").size(), 1u);
    EXPECT_EQ(events_of(id, "stopped").size(), 1u);
    EXPECT_TRUE(events_of(id, "failed").empty());
  }
  std::filesystem::path dir_;
};

// ---- the shutdown deadline -------------------------------------------------------------------

TEST_P(LifecycleTest, AShutdownThatNeverReturnsIsKilledAtTheDeadline) {
  auto id = runtime->spawn(node("hang", true));
  auto watcher = runtime->spawn(node("watcher"));
  EXPECT_EQ(ask(watcher, "monitor " + id), "0");
  expect_stop_kills_at_deadline(id, 5s);
  settle();
  EXPECT_EQ(ask(watcher, "downs"), id + " {\"reason\":\"killed\"}\n");
}

// A theater_shutdown that waits (a request to an actor too busy to answer, with a 60 s timeout)
// makes no fuel check: the wait itself ends at the stop's deadline, and the actor is killed there.
TEST_P(LifecycleTest, AShutdownThatWaitsIsKilledAtTheDeadline) {
  const auto busy_id = spawn_too_busy_to_answer();
  auto m = node("waits");
  m.environment = {{"SV_HANG_SHUTDOWN", "wait " + busy_id}};
  m.limits.shutdown_timeout_ms = 200;
  auto id = runtime->spawn(m);
  auto watcher = runtime->spawn(node("watcher"));
  EXPECT_EQ(ask(watcher, "monitor " + id), "0");
  expect_stop_kills_at_deadline(id, 10s);  // (not the request's own 60 s timeout)
  ASSERT_TRUE(runtime->stop(busy_id));
  settle();
  EXPECT_EQ(ask(watcher, "downs"), id + " {\"reason\":\"killed\"}\n");
}

// A stop that arrives while a handler computes cuts no wait (there is none yet); the request the
// handler makes next ends at once, not at the stop's deadline.
TEST_P(LifecycleTest, AWaitStartedAfterAStopWasAskedForEndsAtOnce) {
  const auto busy_id = spawn_too_busy_to_answer();
  auto m = node("asker");
  m.limits.shutdown_timeout_ms = 5000;
  const auto id = runtime->spawn(m);
  ASSERT_EQ(runtime->send(id, "busy_then_ask " + busy_id), abi::kOk);
  std::this_thread::sleep_for(100ms);  // computing now
  const auto t0 = Clock::now();
  ASSERT_TRUE(runtime->stop(id));
  EXPECT_LT(Clock::now() - t0, 3s) << "the request waited for the stop's 5 s deadline";
  EXPECT_TRUE(events_of(id, "killed").empty()) << "cut by the stop, not killed at its deadline";
  EXPECT_EQ(events_of(id, "stopped").size(), 1u);
  ASSERT_TRUE(runtime->stop(busy_id));
  settle();
}

TEST_P(LifecycleTest, AStopGoesOnPastAChildThatHangs) {
  manifest_file("good", "");
  manifest_file("stuck", "[environment]\nSV_HANG_SHUTDOWN = \"1\"\n[limits]\nshutdown_timeout_ms = 200\n");
  auto parent = runtime->spawn(load_manifest(
      manifest_file("parent", "[[children]]\nmanifest = \"good.toml\"\n[[children]]\nmanifest = \"stuck.toml\"\n")));
  auto kids = runtime->find(parent)->children();
  ASSERT_EQ(kids.size(), 2u);
  ASSERT_TRUE(runtime->stop(parent));
  EXPECT_EQ(events_of(kids[1], "killed").size(), 1u);
  EXPECT_EQ(events_of(kids[1], "stopped").size(), 1u);
  EXPECT_EQ(events_of(kids[0], "stopped").size(), 1u);
  EXPECT_EQ(events_of(parent, "stopped").size(), 1u);
  EXPECT_TRUE(runtime->list().empty()) << "nothing is left behind";
  // Reverse start order: the stuck one (started last) went first.
  std::lock_guard lock(mutex);
  std::vector<std::string> stopped;
  for (const auto& e : events) {
    if (e.type == "stopped") stopped.push_back(e.name);
  }
  EXPECT_EQ(stopped, (std::vector<std::string>{"stuck", "good", "parent"}));
}

TEST_P(LifecycleTest, AHandlerStillRunningWhenStoppedIsKilled) {
  auto m = node("busy");
  m.limits.handler_timeout_ms = 60000;  // its own deadline is far away
  m.limits.shutdown_timeout_ms = 200;
  auto id = runtime->spawn(m);
  EXPECT_EQ(runtime->send(id, "hang"), abi::kOk);
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  ASSERT_TRUE(runtime->stop(id));
  EXPECT_LT(Clock::now() - t0, 5s);
  ASSERT_EQ(events_of(id, "killed").size(), 1u);
  EXPECT_NE(events_of(id, "killed")[0].detail.find("shutdown_timeout_ms"), std::string::npos);
  EXPECT_TRUE(events_of(id, "failed").empty()) << "a kill while stopping is no failure to supervise";
}

TEST_P(LifecycleTest, ARestartGoesOnPastAShutdownThatHangs) {
  auto id = runtime->spawn(node("hang", true));
  ASSERT_TRUE(runtime->restart(id));
  settle();
  EXPECT_EQ(events_of(id, "killed").size(), 1u);
  EXPECT_EQ(events_of(id, "restarted").size(), 1u);
  EXPECT_TRUE(events_of(id, "failed").empty());
  EXPECT_EQ(runtime->find(id)->restarts(), 1u);
  EXPECT_EQ(ask(id, "ping"), "pong");
}

// A supervisor stopped while it waits for a child's (slow) restart stops that child before the
// ones started earlier: the restart's late "init done" must not end its wait for the child's stop.
// The restarting child's shutdown hangs until its deadline, so a supervisor that did not wait
// would stop the earlier child and itself first.
TEST_P(LifecycleTest, AStopDuringARestartWaitsForTheRestartingChild) {
  manifest_file("early", "");
  const std::string slow_switch = "slow init of late";
  manifest_file("late", "[environment]\nSV_SLOW_INIT = \"sha256:" + sha256_hex(slow_switch) +
                            "\"\nSV_SLOW_INIT_MS = \"400\"\nSV_HANG_SHUTDOWN = \"1\"\n"
                            "[limits]\nshutdown_timeout_ms = 300\n");
  auto parent = runtime->spawn(load_manifest(
      manifest_file("parent", "[[children]]\nmanifest = \"early.toml\"\n[[children]]\nmanifest = \"late.toml\"\n")));
  auto kids = runtime->find(parent)->children();
  ASSERT_EQ(kids.size(), 2u);
  runtime->blobs().put(slow_switch);
  ASSERT_EQ(runtime->send(kids[1], "crash"), abi::kOk);
  std::this_thread::sleep_for(150ms);  // the parent now waits for the restart's init
  ASSERT_TRUE(runtime->stop(parent));
  settle();
  // Its place among all events, in the order they were recorded (seq counts per actor).
  auto stopped_seq = [&](const std::string& id) {
    std::lock_guard lock(mutex);
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i].actor == id && events[i].type == "stopped") return i;
    }
    ADD_FAILURE() << id << " never stopped";
    return size_t{0};
  };
  const auto late = stopped_seq(kids[1]);
  const auto early = stopped_seq(kids[0]);
  const auto top = stopped_seq(parent);
  EXPECT_LT(late, early) << "the restarting child stops first (reverse start order)";
  EXPECT_LT(early, top) << "the supervisor stops last";
  EXPECT_EQ(events_of(kids[1], "restarted").size(), 1u);
}

TEST(LifecycleManifest, ShutdownTimeoutKey) {
  const std::string base = "name = \"a\"\ncomponent = \"a.wasm\"\n";
  EXPECT_EQ(parse_manifest(base, "/tmp", "a.toml").limits.shutdown_timeout_ms, 5000u);
  EXPECT_EQ(parse_manifest(base + "[limits]\nshutdown_timeout_ms = 250\n", "/tmp", "a.toml").limits.shutdown_timeout_ms,
            250u);
  EXPECT_THROW(parse_manifest(base + "[limits]\nshutdown_timeout_ms = 0\n", "/tmp", "a.toml"), ManifestError);
}

// ---- monitors --------------------------------------------------------------------------------

TEST_P(LifecycleTest, AnyActorMayMonitorAnyOther) {
  auto watcher = runtime->spawn(node("watcher"));
  auto other_parent = runtime->spawn(node("parent"));
  auto stranger = runtime->spawn(node("stranger"), std::nullopt, other_parent);  // not the watcher's child
  auto leaver = runtime->spawn(node("leaver"));
  EXPECT_EQ(ask(watcher, "monitor " + stranger), "0");
  EXPECT_EQ(ask(watcher, "monitor " + leaver), "0");
  EXPECT_EQ(ask(watcher, "monitor " + other_parent), "0");
  ASSERT_TRUE(runtime->stop(stranger));
  settle();
  EXPECT_EQ(ask(watcher, "downs"), stranger + " {\"reason\":\"normal\"}\n");
  // A normal exit is a normal end too (leaver is permanent: it is restarted, as a new life).
  EXPECT_EQ(runtime->send(leaver, "exit"), abi::kOk);
  settle();
  EXPECT_EQ(ask(watcher, "downs"), stranger + " {\"reason\":\"normal\"}\n" + leaver + " {\"reason\":\"normal\"}\n");
}

TEST_P(LifecycleTest, ARestartIsNoDownAStopForGoodAfterAFailureIs) {
  auto watcher = runtime->spawn(node("watcher"));
  auto survivor = runtime->spawn(node("survivor"));  // permanent: restarted with the same id
  EXPECT_EQ(ask(watcher, "monitor " + survivor), "0");
  EXPECT_EQ(runtime->send(survivor, "crash"), abi::kOk);
  settle();
  EXPECT_EQ(events_of(survivor, "restarted").size(), 1u);
  EXPECT_EQ(ask(watcher, "downs"), "") << "the actor is still there: same id, same mailbox";
  auto parent = runtime->spawn(node("parent"));
  auto temp = node("temp");
  temp.restart = RestartType::Temporary;
  auto goner = runtime->spawn(temp, std::nullopt, parent);
  EXPECT_EQ(ask(watcher, "monitor " + goner), "0");
  EXPECT_EQ(runtime->send(goner, "crash"), abi::kOk);
  settle();
  const auto downs = ask(watcher, "downs");
  EXPECT_EQ(downs.rfind(goner + " {\"kind\":\"trap\",", 0), 0u) << downs;
  EXPECT_NE(downs.find("\"reason\":\"failure\""), std::string::npos) << downs;
}

TEST_P(LifecycleTest, DemonitorAndUnknownIds) {
  auto watcher = runtime->spawn(node("watcher"));
  auto target = runtime->spawn(node("target"));
  EXPECT_EQ(ask(watcher, "monitor nobody-000000000000"), "-2");
  EXPECT_EQ(ask(watcher, "demonitor " + target), "-2");
  EXPECT_EQ(ask(watcher, "monitor " + target), "0");
  EXPECT_EQ(ask(watcher, "demonitor " + target), "0");
  EXPECT_EQ(ask(watcher, "demonitor " + target), "-2");
  ASSERT_TRUE(runtime->stop(target));
  settle();
  EXPECT_EQ(ask(watcher, "downs"), "");
  // A stopped actor is gone: watching it is ENOTFOUND.
  EXPECT_EQ(ask(watcher, "monitor " + target), "-2");
}

TEST_P(LifecycleTest, AWatcherThatStopsWatchesNothingMore) {
  auto watcher = runtime->spawn(node("watcher"));
  auto target = runtime->spawn(node("target"));
  EXPECT_EQ(ask(watcher, "monitor " + target), "0");
  ASSERT_TRUE(runtime->stop(watcher));
  ASSERT_TRUE(runtime->stop(target));  // no down notice for a watcher that is gone
  settle();
  EXPECT_TRUE(runtime->list().empty());
}

INSTANTIATE_TEST_SUITE_P(Tiers, LifecycleTest, ::testing::Values(engine::Tier::Aot, engine::Tier::Interp), tier_name);

}  // namespace theater::test
