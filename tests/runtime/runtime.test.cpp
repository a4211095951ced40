// The runtime end to end with the example actors (examples/): state across restarts, each failure
// kind, normal exit, bad input refused with clear errors. Runs on both engine tiers.
#include "runtime_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;

TEST_P(RuntimeTest, CounterKeepsCommittedStateAcrossACrash) {
  auto id = runtime->spawn(example("counter"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(runtime->send(id, "inc"), abi::kOk);
  settle();
  EXPECT_EQ(runtime->request(id, "get").reply, "3");
  // "crash" stages a bogus state and then traps: the stage is dropped, the requester told.
  auto crash = runtime->request(id, "crash");
  EXPECT_EQ(crash.rc, abi::kEFAILED);
  settle();
  EXPECT_EQ(runtime->request(id, "get").reply, "3");
  EXPECT_EQ(events_of(id, "failed").size(), 1u);
  EXPECT_EQ(events_of(id, "restarted").size(), 1u);
  EXPECT_EQ(runtime->find(id)->restarts(), 1u);
  EXPECT_EQ(runtime->find(id)->committed_state(), "3");
}

TEST_P(RuntimeTest, EachFailureKindIsReportedAndRecovered) {
  auto m = example("crasher");
  m.limits.handler_timeout_ms = 300;
  m.limits.memory_mb = 4;
  auto id = runtime->spawn(m);
  const std::pair<const char*, const char*> cases[] = {
      {"trap", "trap:"}, {"stack", "trap:"}, {"loop", "timeout:"}, {"oom", "memory:"}, {"fail", "error:"}, {"status", "error:"}};
  size_t n = 0;
  for (auto [cmd, kind] : cases) {
    auto r = runtime->request(id, cmd, 20s);
    EXPECT_EQ(r.rc, abi::kEFAILED) << cmd;
    settle();
    auto failed = events_of(id, "failed");
    ASSERT_EQ(failed.size(), ++n) << cmd;
    EXPECT_EQ(failed.back().detail.rfind(kind, 0), 0u) << cmd << ": " << failed.back().detail;
    // Recovered: the same actor answers again.
    EXPECT_EQ(runtime->request(id, "hello").rc, abi::kOk) << "after " << cmd;
  }
  EXPECT_EQ(runtime->find(id)->restarts(), n);
}

TEST_P(RuntimeTest, UnknownActorAndStoppedActor) {
  EXPECT_EQ(runtime->send("nobody-000000000000", "x"), abi::kENOTFOUND);
  EXPECT_EQ(runtime->request("nobody-000000000000", "x").rc, abi::kENOTFOUND);
  auto id = runtime->spawn(example("echo"));
  EXPECT_EQ(runtime->request(id, "hi").reply, "hi");
  EXPECT_TRUE(runtime->stop(id));
  EXPECT_EQ(runtime->send(id, "x"), abi::kENOTFOUND);
}

TEST_P(RuntimeTest, FullMailboxGivesEfullAndLosesNothingElse) {
  auto m = example("crasher");
  m.limits.mailbox = 2;
  m.limits.handler_timeout_ms = 1000;
  auto id = runtime->spawn(m);
  EXPECT_EQ(runtime->send(id, "loop"), abi::kOk);  // keeps the actor busy for a second
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runtime->send(id, "a"), abi::kOk);
  EXPECT_EQ(runtime->send(id, "b"), abi::kOk);
  EXPECT_EQ(runtime->send(id, "c"), abi::kEFULL);
  settle();
}

TEST_P(RuntimeTest, RefusesAModuleThatImportsAnUngrantedHandler) {
  auto m = example("counter");
  m.handlers.clear();
  try {
    runtime->spawn(m);
    FAIL() << "spawn should have refused the module";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("message-server"), std::string::npos) << what;
    EXPECT_NE(what.find("theater."), std::string::npos) << what;
  }
}

TEST_P(RuntimeTest, CrashLoopPastIntensityStopsTheTree) {
  RuntimeConfig config;
  config.engine.tier = GetParam();
  config.root_supervision.max_restarts = 2;
  config.root_supervision.within_ms = 10000;
  make_runtime(config);
  auto id = runtime->spawn(example("crasher"));
  for (int i = 0; i < 3; ++i) {
    runtime->request(id, "trap");
    runtime->wait_idle(5s);
  }
  ASSERT_TRUE(runtime->wait_tree_stopped(10s));
  EXPECT_NE(runtime->tree_stopped_reason()->find("crasher"), std::string::npos);
}

TEST_P(RuntimeTest, IdleActorsHibernateAndResumeWithTheirState) {
  RuntimeConfig config;
  config.engine.tier = GetParam();
  config.hibernate_after = 50ms;
  make_runtime(config);
  auto id = runtime->spawn(example("counter"));
  EXPECT_EQ(runtime->send(id, "inc"), abi::kOk);
  EXPECT_EQ(runtime->send(id, "inc"), abi::kOk);
  for (int i = 0; i < 200 && events_of(id, "hibernated").empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(events_of(id, "hibernated").size(), 1u);
  EXPECT_TRUE(events_of(id, "resumed").empty());
  EXPECT_EQ(runtime->request(id, "get").reply, "2");  // a fresh instance, reason 3
  EXPECT_EQ(events_of(id, "resumed").size(), 1u);
  EXPECT_TRUE(events_of(id, "failed").empty());
}

TEST_P(RuntimeTest, AManifestMayHibernateItsActorWhateverTheRuntimeDefault) {
  auto m = example("counter");
  m.limits.hibernate_after_ms = 30;  // the fixture's runtime never hibernates by default
  auto sleepy = runtime->spawn(m);
  auto awake = runtime->spawn(example("counter"));
  EXPECT_EQ(runtime->send(sleepy, "inc"), abi::kOk);
  EXPECT_EQ(runtime->send(awake, "inc"), abi::kOk);
  for (int i = 0; i < 200 && events_of(sleepy, "hibernated").empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(events_of(sleepy, "hibernated").size(), 1u);
  EXPECT_TRUE(events_of(awake, "hibernated").empty());
  EXPECT_EQ(runtime->request(sleepy, "get").reply, "1");
  EXPECT_EQ(events_of(sleepy, "resumed").size(), 1u);
}

TEST_P(RuntimeTest, ActorsOfOneManifestShareIt) {
  const size_t before = runtime->manifests().size();
  const auto m = example("counter");
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(runtime->spawn(m));
  EXPECT_EQ(runtime->manifests().size(), before + 1) << "twenty counters, one manifest";
  EXPECT_EQ(&runtime->find(ids[0])->manifest(), &runtime->find(ids[19])->manifest());
  auto other = m;
  other.limits.mailbox = 5;
  auto small = runtime->spawn(other);
  EXPECT_EQ(runtime->find(small)->manifest().limits.mailbox, 5u);
  EXPECT_EQ(runtime->find(ids[0])->manifest().limits.mailbox, m.limits.mailbox);
}

INSTANTIATE_TEST_SUITE_P(Tiers, RuntimeTest, ::testing::Values(engine::Tier::Aot, engine::Tier::Interp),
                         tier_name);

}  // namespace theater::test
