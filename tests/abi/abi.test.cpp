// The actor ABI (actor-abi.md), one import or rule at a time, through the abi_probe test actor
// (tests/actors/abi_probe.c), on both engine tiers.
#include <regex>

#include "../runtime/runtime_fixture.hpp"
#include "base/files.hpp"
#include "support/wat.hpp"

namespace theater::test {

using namespace std::chrono_literals;

class AbiTest : public RuntimeTest {
 protected:
  std::string probe() { return runtime->spawn(example("abi_probe")); }
  std::string ask(const std::string& id, const std::string& msg) {
    // Generous: a request that spawns may wait for a cold compile on a loaded machine.
    auto r = runtime->request(id, msg, 60s);
    EXPECT_EQ(r.rc, abi::kOk) << msg << " -> " << abi::rc_name(r.rc);
    return r.reply;
  }
};

TEST_P(AbiTest, InitGetsReasonAndInitialState) {
  auto id = runtime->spawn(example("abi_probe"), std::string("hello"));
  EXPECT_EQ(ask(id, "state"), "init reason=0 state=hello");
  EXPECT_EQ(runtime->request(id, "crash-me-not").reply, "unknown");
  ASSERT_TRUE(runtime->restart(id));
  // Restart: the old instance's theater_shutdown commits "shutdown" (its last chance to save),
  // then the new one gets reason 1 and that last committed state.
  EXPECT_EQ(ask(id, "state"), "init reason=1 state=shutdown");
}

TEST_P(AbiTest, StateIsCommittedOnlyOnSuccess) {
  auto id = probe();
  // "keep..." states are left alone by the probe's theater_init, so the restart shows them.
  ask(id, "stage keep-one");
  // The reply is delivered after the commit, so the state is there when the requester hears back.
  EXPECT_EQ(runtime->find(id)->committed_state(), "keep-one");
  auto r = runtime->request(id, "stage_fail keep-two");  // replies, then returns status 1
  EXPECT_EQ(r.rc, abi::kEFAILED) << "a reply from a failed handler must not be delivered";
  settle();
  EXPECT_EQ(runtime->find(id)->committed_state(), "keep-one");
  EXPECT_EQ(ask(id, "state"), "keep-one");
  EXPECT_EQ(events_of(id, "failed").size(), 1u);
  EXPECT_NE(events_of(id, "failed")[0].detail.find("status 1"), std::string::npos);
}

TEST_P(AbiTest, FailMessageSurvivesANonZeroStatus) {
  auto id = probe();
  EXPECT_EQ(runtime->request(id, "fail_status peer table missing").rc, abi::kEFAILED);
  settle();
  const auto failed = events_of(id, "failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].detail.find("peer table missing"), std::string::npos) << failed[0].detail;
  EXPECT_NE(failed[0].detail.find("status 2"), std::string::npos) << failed[0].detail;
}

TEST_P(AbiTest, SelfIdLogNowRandom) {
  auto id = probe();
  EXPECT_EQ(ask(id, "self_id"), id);
  EXPECT_EQ(ask(id, "log"), "ok");
  auto logs = events_of(id, "log");
  ASSERT_EQ(logs.size(), 5u);
  EXPECT_EQ(logs[0].detail, "[trace] level 0");
  EXPECT_EQ(logs[4].detail, "[error] level 4");
  const auto now = std::stoll(ask(id, "now"));
  EXPECT_NEAR(static_cast<double>(now), static_cast<double>(wall_ms()), 5000.0);
  auto r1 = ask(id, "random 16"), r2 = ask(id, "random 16");
  EXPECT_TRUE(std::regex_match(r1, std::regex("[0-9a-f]{32}"))) << r1;
  EXPECT_NE(r1, r2);
}

TEST_P(AbiTest, BadPointersGetEinvalAndHarmNothing) {
  auto id = probe();
  for (const char* import : {"state_set", "state_get", "log", "send", "request", "reply", "random_fill",
                             "store_put", "spawn", "self_id"}) {
    EXPECT_EQ(ask(id, std::string("badptr ") + import), "-1") << import;
  }
  EXPECT_EQ(ask(id, "self_id"), id);
  EXPECT_TRUE(events_of(id, "failed").empty());
}

TEST_P(AbiTest, WasiStdoutEnvironmentAndReplyRules) {
  auto id = probe();
  EXPECT_EQ(ask(id, "printf hello stdout"), "ok");
  auto logs = events_of(id, "log");
  ASSERT_FALSE(logs.empty());
  EXPECT_EQ(logs.back().detail, "[stdout] hello stdout");
  EXPECT_EQ(ask(id, "env GREETING"), "hello from the manifest");
  EXPECT_EQ(ask(id, "env NOPE"), "(unset)");
  EXPECT_EQ(ask(id, "reply_twice"), "first");
  settle();
  EXPECT_EQ(events_of(id, "log").back().detail, "[info] second reply rc=-1");
  // Returning without a reply: the requester is told (EINVAL), never left waiting.
  EXPECT_EQ(runtime->request(id, "noreply", 5s).rc, abi::kEINVAL);
}

TEST_P(AbiTest, SendRequestBetweenActorsAndErrors) {
  auto a = probe();
  auto echo = runtime->spawn(example("echo"));
  EXPECT_EQ(ask(a, "request " + echo + " over there"), "over there");
  EXPECT_EQ(ask(a, "send " + echo + " hi"), "0");
  EXPECT_EQ(ask(a, "request nobody-000000000000 x"), "-2");
  EXPECT_EQ(ask(a, "send nobody-000000000000 x"), "-2");
  // A request to an actor without theater_handle_request: ENOTFOUND, not a failure of it.
  auto counter = runtime->spawn(example("counter"));
  (void)counter;
  auto pong_less = runtime->spawn(example("echo"));
  EXPECT_EQ(ask(a, "request " + pong_less + " ok"), "ok");
}

TEST_P(AbiTest, StoreRoundTrip) {
  auto id = probe();
  auto ref = ask(id, "put some bytes");
  EXPECT_TRUE(std::regex_match(ref, std::regex("sha256:[0-9a-f]{64}"))) << ref;
  EXPECT_EQ(ask(id, "get " + ref), "some bytes");
  EXPECT_EQ(ask(id, "get sha256:" + std::string(64, '0')), "-2");
}

TEST_P(AbiTest, SpawnListStopChildren) {
  auto id = probe();
  auto child = ask(id, "spawn_echo");
  EXPECT_EQ(child.rfind("echo-", 0), 0u) << child;
  EXPECT_EQ(runtime->request(child, "hi").reply, "hi");
  EXPECT_EQ(ask(id, "children"), "[\"" + child + "\"]");
  EXPECT_EQ(ask(id, "stop " + child), "0");
  EXPECT_EQ(ask(id, "children"), "[]");
  EXPECT_EQ(ask(id, "stop " + child), "-2");
  EXPECT_EQ(runtime->send(child, "x"), abi::kENOTFOUND);
}

// spawn_on without a cluster: every placement is this node ("local"); another node is ENOTFOUND
// and a placement that is not one EINVAL, both recorded as spawn-refused.
TEST_P(AbiTest, SpawnOnWithoutAClusterIsSpawnHere) {
  auto id = probe();
  for (const char* where : {"near-parent", "least-loaded", "spread", "node:local"}) {
    auto child = ask(id, std::string("spawn_on ") + where);
    EXPECT_EQ(child.rfind("echo-", 0), 0u) << where << ": " << child;
    EXPECT_EQ(runtime->request(child, "hi").reply, "hi") << where;
  }
  EXPECT_EQ(ask(id, "spawn_on node:elsewhere"), "-2");
  EXPECT_EQ(ask(id, "spawn_on somewhere"), "-1");
  EXPECT_EQ(runtime->find(id)->children().size(), 4u);
}

TEST_P(AbiTest, TimerFiresWithItsTag) {
  auto id = probe();
  EXPECT_EQ(ask(id, "timer 20"), "0");
  for (int i = 0; i < 200 && runtime->find(id)->committed_state() != "timer=4242"; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(runtime->find(id)->committed_state(), "timer=4242");
}

TEST_P(AbiTest, AllocReturningZeroFailsTheHandler) {
  auto id = probe();
  EXPECT_EQ(runtime->request(id, "alloc0").rc, abi::kEFAILED);
  settle();
  ASSERT_EQ(events_of(id, "failed").size(), 1u);
  EXPECT_NE(events_of(id, "failed")[0].detail.find("theater_alloc returned 0"), std::string::npos);
  EXPECT_EQ(ask(id, "self_id"), id);  // restarted, with a working allocator again
}

TEST_P(AbiTest, ExitStopsNormallyAndPermanentActorsComeBack) {
  auto id = probe();
  EXPECT_EQ(ask(id, "exit done"), "exiting");
  settle();
  ASSERT_EQ(events_of(id, "exited").size(), 1u);
  EXPECT_EQ(events_of(id, "exited")[0].detail, "done");
  EXPECT_TRUE(events_of(id, "failed").empty());
  // permanent (the default): restarted even after a normal exit, as in OTP
  EXPECT_EQ(ask(id, "self_id"), id);
}

TEST_P(AbiTest, RefusesImportsOutsideTheAbiNamingThem) {
  auto expect_refused = [&](const std::string& wat, const std::string& needle) {
    auto dir = std::filesystem::temp_directory_path() / ("theater-abi-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto bytes = wat_to_wasm(wat);
    write_file_atomic(dir / "m.wasm", bytes);
    auto m = parse_manifest("name = \"m\"\ncomponent = \"m.wasm\"\nhandlers = [\"message-server\"]\n", dir, "m.toml");
    try {
      runtime->spawn(m);
      ADD_FAILURE() << "expected refusal mentioning " << needle;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    std::filesystem::remove_all(dir);
  };
  const std::string base = R"((memory (export "memory") 1) (func (export "theater_alloc") (param i32) (result i32) (i32.const 8)))";
  expect_refused("(module (import \"env\" \"foo\" (func))" + base + ")", "env.foo");
  expect_refused("(module (import \"wasi_snapshot_preview1\" \"path_open\" (func (param i32) (result i32)))" + base + ")",
                 "wasi_snapshot_preview1.path_open");
  expect_refused("(module (import \"theater\" \"spawn\" (func (param i32 i32 i32 i32 i32 i32) (result i32)))" + base + ")",
                 "handler \"supervisor\"");
  expect_refused("(module (import \"theater\" \"send\" (func (param i32) (result i32)))" + base + ")", "signature");
  expect_refused(R"((module (memory (export "memory") 1)))", "theater_alloc");
  expect_refused(R"((module (func (export "theater_alloc") (param i32) (result i32) (i32.const 0))))", "memory");
  expect_refused("(module " + base + R"( (func (export "theater_handle_send") (param i32) (result i32) (i32.const 0))))",
                 "theater_handle_send");
}

TEST_P(AbiTest, ChannelsOpenCarryMessagesAndClose) {
  auto a = probe(), b = probe();
  auto ch = ask(a, "open " + b + " hello");
  ASSERT_EQ(ch.rfind("ch-", 0), 0u) << ch;
  EXPECT_EQ(ask(a, "chsend " + ch + " first"), "0");
  EXPECT_EQ(ask(a, "chsend " + ch + " second"), "0");
  settle();
  EXPECT_EQ(runtime->find(b)->committed_state(), "ch=second");  // in order
  EXPECT_EQ(ask(b, "chsend " + ch + " back"), "0");             // either side may send
  settle();
  EXPECT_EQ(runtime->find(a)->committed_state(), "ch=back");
  EXPECT_EQ(ask(a, "chclose " + ch), "0");
  settle();
  EXPECT_EQ(runtime->find(b)->committed_state(), "closed=" + ch);
  EXPECT_EQ(ask(a, "chsend " + ch + " late"), "-2");
  EXPECT_EQ(ask(a, "open " + b + " refuse"), "-3");                    // refused: EDENIED
  EXPECT_EQ(ask(a, "open nobody-000000000000 x"), "-2");
  // The death of one side closes the channel for the other.
  auto ch2 = ask(a, "open " + b + " again");
  ASSERT_TRUE(runtime->stop(a));
  settle();
  EXPECT_EQ(runtime->find(b)->committed_state(), "closed=" + ch2);
}

TEST_P(AbiTest, GracefulStopCallsShutdownAndCommits) {
  auto id = probe();
  auto actor = runtime->find(id);
  ASSERT_TRUE(runtime->stop(id));
  EXPECT_EQ(actor->status(), ActorStatus::Stopped);
  EXPECT_EQ(actor->committed_state(), "shutdown");
}

TEST_P(AbiTest, ChildStateEventsRestartMonitorAndExit) {
  auto parent = probe();
  auto child = ask(parent, "spawn_echo");
  EXPECT_EQ(ask(parent, "child_state " + child), "");
  auto events = ask(parent, "child_events " + child);
  EXPECT_NE(events.find("\"type\":\"started\""), std::string::npos) << events;
  EXPECT_EQ(ask(parent, "restart " + child), "0");
  EXPECT_NE(ask(parent, "child_events " + child).find("\"type\":\"restarted\""), std::string::npos);
  EXPECT_EQ(ask(parent, "child_state nobody-000000000000"), "-2");
  EXPECT_EQ(ask(parent, "restart nobody-000000000000"), "-2");
  // Any actor may monitor any other; it hears when that one stops, and why.
  auto watcher = probe();
  auto watched = probe();
  EXPECT_EQ(ask(watcher, "monitor " + watched), "0");
  EXPECT_EQ(ask(watcher, "monitor nobody-000000000000"), "-2");
  ASSERT_TRUE(runtime->stop(watched));
  settle();
  EXPECT_EQ(runtime->find(watcher)->committed_state(), "down=" + watched + " {\"reason\":\"normal\"}");
}

TEST_P(AbiTest, CustomStrategyAsksTheParent) {
  auto m = example("abi_probe");
  m.supervision.on_failure = OnFailure::Custom;
  auto parent = runtime->spawn(m);
  auto p = runtime->find(parent);
  // A probe child of the probe: its manifest text through spawn would need the file; use the API.
  auto child_manifest = example("crasher");
  auto child = runtime->spawn(child_manifest, std::nullopt, parent);
  EXPECT_EQ(runtime->request(child, "trap").rc, abi::kEFAILED);
  settle();
  auto state = p->committed_state();
  EXPECT_EQ(state.rfind("child_error={\"kind\":\"trap\"", 0), 0u) << state;
  EXPECT_NE(state.find("\"restarts\":0"), std::string::npos) << state;
  EXPECT_EQ(runtime->find(child)->restarts(), 1u);  // the probe answered restart
  // A normal exit goes to theater_handle_child_exit with the result; a permanent child returns.
  EXPECT_EQ(runtime->request(child, "exit").rc, abi::kOk);  // it answers, then stops normally
  settle();
  EXPECT_EQ(p->committed_state(), "child_exit=bye");
  EXPECT_EQ(runtime->request(child, "hello").rc, abi::kOk);
}

INSTANTIATE_TEST_SUITE_P(Tiers, AbiTest, ::testing::Values(engine::Tier::Aot, engine::Tier::Interp), tier_name);

}  // namespace theater::test
