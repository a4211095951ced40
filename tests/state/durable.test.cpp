// Durable state end to end: a tree comes back with its ids, parents and committed states after a
// graceful stop and after SIGKILL of the whole runtime (a child `theater run --data` process), in
// both durability modes; an actor stopped for good stays stopped.
#include "state_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;

TEST_F(StateTest, TreeComesBackAfterAGracefulStop) {
  std::string sup, counter, echo;
  {
    open(config());
    sup = runtime->spawn(example("demo"));
    auto c = child_named(sup, "counter");
    ASSERT_TRUE(c);
    counter = c->id;
    echo = child_named(sup, "echo")->id;
    for (int i = 0; i < 5; ++i) ASSERT_EQ(runtime->request(sup, "to counter inc").rc, abi::kOk);
    runtime.reset();  // graceful: the tree stays stored
  }
  open(config());
  const auto top = runtime->recover();
  ASSERT_EQ(top, std::vector<std::string>{sup});
  settle();
  auto c = runtime->find(counter);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->parent, sup);
  EXPECT_EQ(c->status(), ActorStatus::Running);
  EXPECT_EQ(c->committed_state(), "5");
  EXPECT_EQ(runtime->find(sup)->children(), (std::vector<std::string>{counter, echo, child_named(sup, "crasher")->id}));
  EXPECT_EQ(runtime->request(sup, "to counter inc").reply, "6");
  EXPECT_EQ(runtime->request(sup, "to echo hi").reply, "hi");
}

TEST_F(StateTest, StoppedForGoodStaysStopped) {
  std::string a, b;
  {
    open(config());
    a = runtime->spawn(example("counter"));
    b = runtime->spawn(example("counter"));
    ASSERT_EQ(runtime->request(a, "inc").rc, abi::kOk);
    ASSERT_TRUE(runtime->stop(b));
  }
  open(config());
  EXPECT_EQ(runtime->recover(), std::vector<std::string>{a});
  EXPECT_FALSE(runtime->find(b));
  EXPECT_EQ(runtime->request(a, "get").reply, "1");
}

TEST_F(StateTest, ARecoveredActorRunsTheModuleItRanEvenIfTheFileIsGone) {
  const auto tmp = dir.parent_path() / fmt::format("theater-state-mod-{}", ::getpid());
  std::filesystem::create_directories(tmp);
  std::filesystem::copy_file(examples_dir() / "counter.wasm", tmp / "counter.wasm",
                             std::filesystem::copy_options::overwrite_existing);
  auto m = parse_manifest("name = \"counter\"\ncomponent = \"counter.wasm\"\nhandlers = [\"message-server\"]\n", tmp, "t");
  std::string id;
  {
    open(config());
    id = runtime->spawn(m);
    ASSERT_EQ(runtime->request(id, "add 41").reply, "41");
  }
  std::filesystem::remove_all(tmp);
  open(config());
  ASSERT_EQ(runtime->recover().size(), 1u);
  EXPECT_EQ(runtime->request(id, "inc").reply, "42");
}

// SIGKILL of the whole runtime in the middle of a stream of commits. `theater run --data` prints
// a reply only once the commit before it is durable (docs/state.md, "acknowledged"), so every
// reply the test has read is a commit that must be there after the restart.
class SigkillTest : public StateTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(SigkillTest, EveryAcknowledgedCommitSurvives) {
  const std::string durability = GetParam();
  std::vector<std::string> args = {"run", example_path("demo"), "--data", dir.string(), "--durability", durability,
                                   "--quiet", "--workers", "2"};
  constexpr int kRequests = 400, kKillAfter = 40;
  for (int i = 0; i < kRequests; ++i) {
    args.push_back("--request");
    args.push_back("to counter inc");
  }
  long long acknowledged = 0;
  {
    args.insert(args.begin(), theater_binary());
    ChildProcess child(args);
    ASSERT_TRUE(child.started());
    int replies = 0;
    while (replies < kKillAfter) {
      auto line = child.line();
      ASSERT_TRUE(line) << "the runtime ended early";
      if (line->empty() || !std::isdigit(static_cast<unsigned char>((*line)[0]))) continue;  // not a reply
      acknowledged = std::stoll(*line);
      ASSERT_EQ(acknowledged, ++replies);
    }
    child.kill();  // mid-stream: the next commits are in flight
  }
  open(config());
  const auto top = runtime->recover();
  ASSERT_EQ(top.size(), 1u);
  settle();
  auto counter = child_named(top[0], "counter");
  ASSERT_TRUE(counter);
  const long long recovered = std::stoll(counter->committed_state());
  EXPECT_GE(recovered, acknowledged) << "an acknowledged commit was lost";
  EXPECT_LE(recovered, kRequests);
  // Nothing else is lost or mixed up: every actor's chain and state row check out.
  for (const auto& a : runtime->list()) {
    auto broken = runtime->store()->verify(a.id);
    EXPECT_FALSE(broken) << a.id << ": " << broken->reason;
  }
  // And the tree goes on from there.
  EXPECT_EQ(runtime->request(top[0], "to counter inc").reply, std::to_string(recovered + 1));
}

INSTANTIATE_TEST_SUITE_P(Durability, SigkillTest, ::testing::Values("sync", "group"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace theater::test
