// Hot code upgrade (Runtime::upgrade, theater upgrade): the next message goes to the new version,
// which got theater_init reason 2 and the committed state; same id and mailbox, nothing lost
// while messages keep coming; a version that fails its init is rolled back (the old instance,
// and with it the old version, goes on) and the reason is reported; a supervisor keeps its
// children; an upgrade is stored, so a recovered tree runs the new version.
#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/files.hpp"
#include "base/process.hpp"
#include "state_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;

class UpgradeTest : public StateTest {
 protected:
  std::filesystem::path wasm(const std::string& name) { return examples_dir() / (name + ".wasm"); }
};

TEST_F(UpgradeTest, KeepsStateAndLosesNoMessage) {
  open(config());
  const auto id = runtime->spawn(example("versioned"));
  EXPECT_EQ(runtime->request(id, "get").reply, "v1 count=0 init=0");
  // Messages keep coming from another thread while the upgrade happens.
  constexpr int kSends = 3000;
  std::atomic<int> sent{0};
  std::thread sender([&] {
    for (int i = 0; i < kSends; ++i) {
      while (runtime->send(id, "inc") == abi::kEFULL) std::this_thread::yield();
      sent.fetch_add(1);
    }
  });
  while (sent.load() < kSends / 3) std::this_thread::yield();
  const auto result = runtime->upgrade(id, wasm("versioned_v2"));
  sender.join();
  ASSERT_TRUE(result.ok) << result.message;
  settle();
  EXPECT_EQ(runtime->request(id, "get").reply, fmt::format("v2 count={} init=2", kSends));
  EXPECT_EQ(runtime->find(id)->restarts(), 0u);
  // The chain tells the story: upgrade, then a reason-2 init of the new module.
  runtime->wait_durable();
  auto evs = runtime->store()->events(id, {.types = {state::EventType::Upgrade, state::EventType::Init}});
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs[1].type, state::EventType::Upgrade);
  EXPECT_EQ(state::describe(evs[2])["reason"], 2);
  EXPECT_FALSE(runtime->store()->verify(id));
}

TEST_F(UpgradeTest, ABrokenVersionIsRolledBack) {
  open(config());
  const auto id = runtime->spawn(example("versioned"));
  ASSERT_EQ(runtime->request(id, "inc").reply, "1");
  const auto result = runtime->upgrade(id, wasm("versioned_broken"));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.message.find("failed its init"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("trap"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find("rolled back"), std::string::npos) << result.message;
  // The old instance goes on (its init reason is still 0): old module, old state, no restart.
  EXPECT_EQ(runtime->request(id, "inc").reply, "2");
  EXPECT_EQ(runtime->request(id, "get").reply, "v1 count=2 init=0");
  EXPECT_EQ(runtime->find(id)->restarts(), 0u);
  EXPECT_EQ(runtime->find(id)->status(), ActorStatus::Running);
  runtime->wait_durable();
  auto rollback = runtime->store()->events(id, {.types = {state::EventType::Rollback}});
  ASSERT_EQ(rollback.size(), 1u);
  EXPECT_NE(state::summary(rollback[0]).find("trap"), std::string::npos);
  // Stored: the old module, so a recovered tree runs v1.
  runtime.reset();
  open(config());
  runtime->recover();
  EXPECT_EQ(runtime->request(id, "get").reply, "v1 count=2 init=3");
}

TEST_F(UpgradeTest, ABadModuleIsRefusedBeforeAnythingChanges) {
  open(config());
  const auto id = runtime->spawn(example("versioned"));
  const auto not_wasm = dir / "junk.wasm";
  std::filesystem::create_directories(dir);
  write_file_atomic(not_wasm, std::string_view("not wasm"));
  auto result = runtime->upgrade(id, not_wasm);
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.message.find("cannot be loaded"), std::string::npos) << result.message;
  result = runtime->upgrade("nobody-000000000000", wasm("versioned_v2"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(runtime->request(id, "get").reply, "v1 count=0 init=0");
}

TEST_F(UpgradeTest, ASupervisorKeepsItsChildren) {
  open(config());
  const auto sup = runtime->spawn(example("demo"));
  ASSERT_EQ(runtime->request(sup, "to counter add 7").reply, "7");
  const auto kids = runtime->find(sup)->children();
  ASSERT_EQ(kids.size(), 3u);
  const auto result = runtime->upgrade(sup, example_path("demo"));  // a manifest, same module
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_EQ(runtime->find(sup)->children(), kids);
  for (const auto& k : kids) EXPECT_EQ(runtime->find(k)->status(), ActorStatus::Running);
  EXPECT_EQ(runtime->request(sup, "to counter inc").reply, "8");
}

TEST_F(UpgradeTest, TheCommandUpgradesAStoredTree) {
  {
    open(config());
    const auto id = runtime->spawn(example("versioned"));
    ASSERT_EQ(runtime->request(id, "inc").reply, "1");
  }
  runtime.reset();
  auto r = run_process({theater_binary(), "upgrade", "versioned", (examples_dir() / "versioned_v2.toml").string(),
                        "--data", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("upgraded"), std::string::npos) << r.output;
  r = run_process({theater_binary(), "upgrade", "versioned", wasm("versioned_broken").string(), "--data", dir.string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("rolled back"), std::string::npos) << r.output;
  open(config());
  const auto top = runtime->recover();
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(runtime->request(top[0], "get").reply, "v2 count=1 init=3");
  EXPECT_EQ(runtime->find(top[0])->manifest().version, "2");
}

}  // namespace theater::test
