// The cluster with node processes (`theater run --cluster`) plus one node in this test process:
// messages between three nodes, kill -9 of a node mid-traffic (its actors come back elsewhere with
// their state and their supervisor sees "node-down"), a paused node (SIGSTOP) that comes back
// without becoming a second owner, and a NATS restart that loses no committed state.
#include <signal.h>

#include <atomic>
#include <thread>

#include "base/process.hpp"

#include "cluster_fixture.hpp"
#include "state/store.hpp"

namespace theater::test {

using namespace std::chrono_literals;

class ClusterNodesTest : public ClusterTest {
 protected:
  // Requests until one is answered (the actor is being taken over meanwhile); the time it took.
  static std::optional<std::chrono::milliseconds> answer_within(Runtime& rt, const std::string& id, const std::string& msg,
                                                                std::chrono::milliseconds limit, RequestResult* out) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < limit) {
      auto r = rt.request(id, msg, 1s);
      if (r.rc == abi::kOk) {
        if (out) *out = r;
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      }
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }
  // Node process n1 hosting a counter at `count`, and this process as node t.
  struct CounterOnN1 {
    std::unique_ptr<ChildProcess> n1;
    std::string counter;
    Node* t = nullptr;
  };
  CounterOnN1 counter_on_n1(int count, std::vector<std::string> extra = {}) {
    CounterOnN1 s;
    s.n1 = node_process("n1", "counter", std::move(extra));
    s.counter = started_id(*s.n1);
    s.t = &node("t");
    if (s.counter.empty() || s.t->runtime->request(s.counter, fmt::format("add {}", count), 5s).reply !=
                                 std::to_string(count)) {
      ADD_FAILURE() << "the counter on n1 did not start: " << s.n1->output();
      s.counter.clear();
    }
    return s;
  }
  // The node that hosts `id`, as the directory says once it names another than `not_this`.
  static std::string new_home(cluster::Cluster& c, const std::string& id, const std::string& not_this) {
    for (int i = 0; i < 1000; ++i) {
      if (auto e = c.lookup(id); e && e->node != not_this) return e->node;
      std::this_thread::sleep_for(10ms);
    }
    return not_this;
  }
};

TEST_F(ClusterNodesTest, ThreeNodeProcessesTalkToEachOther) {
  auto n1 = node_process("n1", "counter");
  auto n2 = node_process("n2", "echo");
  auto n3 = node_process("n3", "abi_probe");
  const auto counter = started_id(*n1), echo = started_id(*n2), probe = started_id(*n3);
  ASSERT_FALSE(counter.empty()) << n1->output();
  ASSERT_FALSE(echo.empty()) << n2->output();
  ASSERT_FALSE(probe.empty()) << n3->output();
  auto& t = node("t");
  // This node asks n3's actor to ask n1's and n2's: node t -> n3 -> n1 / n2 and back.
  EXPECT_EQ(t.runtime->request(probe, "request " + counter + " inc", 10s).reply, "1");
  EXPECT_EQ(t.runtime->request(probe, "request " + echo + " three nodes", 10s).reply, "three nodes");
  EXPECT_EQ(t.runtime->request(probe, "send " + counter + " add 10", 10s).reply, "0");
  // Order holds per pair: the probe's request comes after its send (this node's own request to
  // the counter would travel beside it, unordered, as between two local senders).
  EXPECT_EQ(t.runtime->request(probe, "request " + counter + " get", 10s).reply, "11");
  EXPECT_EQ(t.runtime->request(probe, "request nobody-0 x", 10s).reply, std::to_string(abi::kENOTFOUND));
  // `theater cluster` shows the four nodes, alive, and what each one hosts.
  auto shown = run_process({std::string(THEATER_BUILD_DIR) + "/theater", "cluster", "--cluster", nats->url(), "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.output;
  std::map<std::string, std::vector<std::string>> hosted;
  for (const auto& n : nlohmann::json::parse(shown.output)) {
    EXPECT_TRUE(n.value("alive", false)) << n.dump();
    auto& ids = hosted[n.value("node", "")];
    for (const auto& a : n["actors"]) ids.push_back(a.value("id", ""));
  }
  EXPECT_EQ(hosted, (std::map<std::string, std::vector<std::string>>{
                        {"n1", {counter}}, {"n2", {echo}}, {"n3", {probe}}, {"t", {}}}));
  auto placement = t.cluster->placement();
  EXPECT_EQ(placement["n1"], std::vector<std::string>{counter});
  EXPECT_EQ(placement["n2"], std::vector<std::string>{echo});
  EXPECT_EQ(placement["n3"], std::vector<std::string>{probe});
}

TEST_F(ClusterNodesTest, KillNineMidTrafficBringsTheActorBackElsewhereWithItsState) {
  // Sync durability on the node that dies: every answered increment is in JetStream.
  auto n1 = node_process("n1", "counter", {"--sync-state"});
  auto n2 = node_process("n2", "echo");
  const auto counter = started_id(*n1);
  ASSERT_FALSE(counter.empty()) << n1->output();
  ASSERT_FALSE(started_id(*n2).empty()) << n2->output();
  auto& t = node("t");
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, unsure{0};
  std::thread traffic([&] {
    while (!stop.load()) {
      auto r = t.runtime->request(counter, "inc", 1s);
      if (r.rc == abi::kOk) {
        answered.fetch_add(1);
      } else {
        if (r.rc != abi::kESTOPPED) unsure.fetch_add(1);  // in flight when n1 died: maybe counted
        std::this_thread::sleep_for(5ms);
      }
    }
  });
  for (auto until = std::chrono::steady_clock::now() + 30s; answered.load() < 50;) {
    if (std::chrono::steady_clock::now() > until) {
      stop.store(true);
      traffic.join();
      FAIL() << "no traffic: " << n1->output();
    }
    std::this_thread::sleep_for(1ms);
  }
  n1->signal(SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  const int before = answered.load();
  while (answered.load() < before + 20 && std::chrono::steady_clock::now() - killed_at < 15s) {
    std::this_thread::sleep_for(1ms);
  }
  stop.store(true);
  traffic.join();
  ASSERT_GE(answered.load(), before + 20) << "the counter did not come back; n2: " << n2->output();
  const std::string home = new_home(*t.cluster, counter, "n1");
  EXPECT_NE(home, "n1");
  RequestResult got;
  ASSERT_TRUE(answer_within(*t.runtime, counter, "get", 5s, &got));
  const int count = std::stoi(got.reply);
  EXPECT_GE(count, answered.load()) << "an answered increment was lost";
  EXPECT_LE(count, answered.load() + unsure.load());
  // Its supervisor (the runtime of the node that adopted it) saw it fail with kind node-down.
  const bool seen_here = !t.events_of(counter, "failed").empty() &&
                         t.events_of(counter, "failed")[0].detail.rfind("node-down", 0) == 0;
  const bool seen_on_n2 = n2->output().find("node-down: node n1 is down") != std::string::npos;
  EXPECT_TRUE(home == "t" ? seen_here : seen_on_n2) << "home " << home << "\n" << n2->output();
}

TEST_F(ClusterNodesTest, FailoverTimeFromKillToAnAnswerElsewhere) {
  auto [n1, counter, tp] = counter_on_n1(7, {"--sync-state"});
  ASSERT_FALSE(counter.empty());
  auto& t = *tp;
  n1->signal(SIGKILL);
  RequestResult got;
  auto took = answer_within(*t.runtime, counter, "get", 10s, &got);
  ASSERT_TRUE(took);
  EXPECT_EQ(got.reply, "7");
  // Heartbeats every 150 ms, down after 4 missed: about a second here. (The 2 s target with the
  // default heartbeats is measured by bench/cluster_bench; a loaded CI machine gets slack.)
  EXPECT_LT(took->count(), 5000);
  std::cout << "failover (heartbeat 150 ms x 4): " << took->count() << " ms from kill -9 to the answer\n";
}

TEST_F(ClusterNodesTest, APausedNodeThatComesBackIsNotASecondOwner) {
  auto [n1, counter, tp] = counter_on_n1(3);
  ASSERT_FALSE(counter.empty());
  auto& t = *tp;
  std::this_thread::sleep_for(500ms);  // async durability: the writer has replicated it by now
  n1->signal(SIGSTOP);
  // (A request right after SIGSTOP may still be answered by n1: the stop reaches its threads a
  // moment later. So first the takeover, then the answer from t.)
  EXPECT_EQ(new_home(*t.cluster, counter, "n1"), "t");  // the only live node took it
  RequestResult got;
  ASSERT_TRUE(answer_within(*t.runtime, counter, "get", 10s, &got));  // ESTOPPED until it is made here
  EXPECT_EQ(got.reply, "3");
  {
    auto r = t.runtime->request(counter, "inc", 5s);
    EXPECT_EQ(r.reply, "4") << abi::rc_name(r.rc);
  }
  n1->signal(SIGCONT);
  // n1 finds out that its copy is no longer the actor and drops it, without writing over ours.
  EXPECT_FALSE(n1->wait_for_line("\"type\":\"disowned\"", 10s).empty()) << n1->output();
  EXPECT_TRUE(n1->running());
  EXPECT_EQ(t.cluster->lookup(counter)->node, "t");
  EXPECT_EQ(t.runtime->request(counter, "inc", 5s).reply, "5");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(t.runtime->request(counter, "get", 5s).reply, "5");
  EXPECT_EQ(t.cluster->placement()["n1"], std::vector<std::string>{});
}

TEST_F(ClusterNodesTest, NatsRestartLosesNoCommittedState) {
  auto [n1, counter, tp] = counter_on_n1(3, {"--sync-state"});
  ASSERT_FALSE(counter.empty());
  auto& t = *tp;
  nats->restart();
  RequestResult got;
  // Wait with an idempotent request: a retried "inc" whose first try was buffered by libnats
  // during the outage, or answered too late, would count twice.
  ASSERT_TRUE(answer_within(*t.runtime, counter, "get", 20s, &got)) << n1->output();
  EXPECT_EQ(got.reply, "3");
  EXPECT_EQ(t.runtime->request(counter, "inc", 5s).reply, "4");
  // Nobody was declared down for the outage: the actor stayed where it was.
  EXPECT_EQ(t.cluster->lookup(counter)->node, "n1") << n1->output();
  EXPECT_EQ(n1->output().find("node-down"), std::string::npos);
  // And what it committed is in JetStream: kill it now, and the state comes back.
  n1->signal(SIGKILL);
  ASSERT_TRUE(answer_within(*t.runtime, counter, "get", 10s, &got));
  EXPECT_EQ(got.reply, "4");
}

// With --data, each node keeps the event chains of the actors it hosts, and the state bucket keeps
// each state with the chain head of its commit: the node that takes an actor over goes on from
// that head, so the two nodes' stores make one chain.
TEST_F(ClusterNodesTest, AnAdoptedActorsChainGoesOnFromTheHeadReplicatedWithItsState) {
  const auto base = std::filesystem::temp_directory_path() / fmt::format("theater-chain-{}", ::getpid());
  std::filesystem::remove_all(base);
  const auto dir1 = base / "n1", dir_t = base / "t";
  auto n1 = node_process("n1", "counter", {"--sync-state", "--data", dir1.string()});
  const auto counter = started_id(*n1);
  ASSERT_FALSE(counter.empty()) << n1->output();
  auto& t = node("t", std::nullopt, dir_t);
  ASSERT_EQ(t.runtime->request(counter, "add 3", 5s).reply, "3");
  n1->signal(SIGKILL);
  RequestResult got;
  ASSERT_TRUE(answer_within(*t.runtime, counter, "get", 10s, &got));
  EXPECT_EQ(got.reply, "3");
  EXPECT_EQ(t.runtime->request(counter, "inc", 5s).reply, "4");
  t.runtime->wait_durable();

  // n1's chain ends (as far as the cluster knows) at the commit of "add 3"...
  auto store1 = state::Store::open_read_only(dir1);
  const auto events1 = store1->events(counter);
  EXPECT_FALSE(store1->verify(counter)) << "n1's chain";
  const state::StoredEvent* last_commit = nullptr;
  for (const auto& e : events1) {
    if (e.type == state::EventType::Committed) last_commit = &e;
  }
  ASSERT_TRUE(last_commit) << "n1 stored no commit";
  // ... and t's chain of the actor begins with a "continued" event that links to it.
  auto store_t = state::Store::open_read_only(dir_t);
  const auto events_t = store_t->events(counter);
  ASSERT_FALSE(events_t.empty());
  std::string from;
  const auto head = state::continued_from(events_t[0], &from);
  ASSERT_TRUE(head) << state::to_string(events_t[0].type);
  EXPECT_EQ(from, "n1");
  EXPECT_EQ(head->seq, last_commit->seq);
  EXPECT_EQ(head->hash, last_commit->hash);
  EXPECT_GT(events_t[0].seq, head->seq);
  EXPECT_EQ(events_t[0].hash, state::event_hash(last_commit->hash, events_t[0].seq, events_t[0].time_ms,
                                                 events_t[0].type, events_t[0].payload));
  const auto broken = store_t->verify(counter);
  EXPECT_FALSE(broken) << broken->reason;
  EXPECT_EQ(store_t->actor(counter)->state, "4");

  // The state bucket now holds t's state with the head of t's last commit.
  const state::StoredEvent* t_commit = nullptr;
  for (const auto& e : events_t) {
    if (e.type == state::EventType::Committed) t_commit = &e;
  }
  ASSERT_TRUE(t_commit);
  ASSERT_TRUE(t.cluster->flush_state(10s));  // async durability: replicated by now
  cluster::NatsConnection conn({nats->url(), "test-reader"});
  cluster::KvBucket states(conn, "theater_theater_state");
  auto kv = states.get(counter);
  ASSERT_TRUE(kv);
  auto replicated = cluster::decode_state(kv->value);
  ASSERT_TRUE(replicated);
  EXPECT_EQ(replicated->state, "4");
  ASSERT_TRUE(replicated->head);
  EXPECT_EQ(replicated->head->seq, t_commit->seq);
  EXPECT_EQ(replicated->head->hash, t_commit->hash);
  std::filesystem::remove_all(base);
}

}  // namespace theater::test

namespace theater::test {

TEST_F(ClusterNodesTest, AWholeTreeComesBackWithItsChildrenAndTheirStates) {
  auto n1 = node_process("n1", "demo");
  const auto supervisor = started_id(*n1);  // the tree's top starts first
  ASSERT_FALSE(supervisor.empty()) << n1->output();
  auto& t = node("t");
  ASSERT_EQ(t.runtime->request(supervisor, "to counter add 5", 5s).reply, "5");
  const auto children = t.runtime->request(supervisor, "children", 5s).reply;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // async durability: replicated by now
  n1->signal(SIGKILL);
  RequestResult got;
  // (A whole tree is restarted here; in a fresh Debian chroot, beside another test, that has
  // taken up to 9 s of the 10 this allowed. The failover time has its own test.)
  ASSERT_TRUE(answer_within(*t.runtime, supervisor, "to counter get", std::chrono::seconds(30), &got));
  EXPECT_EQ(got.reply, "5");
  // Same children (ids), restarted by their adopted supervisor, which itself was restarted by
  // this node's runtime after failing with kind node-down.
  EXPECT_EQ(t.runtime->request(supervisor, "children", std::chrono::seconds(5)).reply, children);
  auto failed = t.events_of(supervisor, "failed");
  ASSERT_FALSE(failed.empty());
  EXPECT_EQ(failed[0].detail, "node-down: node n1 is down");
  EXPECT_EQ(t.cluster->placement()["t"].size(), 4u);
}

}  // namespace theater::test

namespace theater::test {

TEST_F(ClusterNodesTest, AChildWhoseNodeDiesFailsWithNodeDownToItsParentAndRestartsNearIt) {
  auto n1 = node_process("n1", "echo", {"--sync-state"});
  ASSERT_FALSE(started_id(*n1).empty()) << n1->output();
  auto& t = node("t");
  const auto parent = t.runtime->spawn(example("abi_probe"));
  const auto child = t.cluster->spawn(example("counter"), std::nullopt, parent, {.node = "n1"});
  ASSERT_EQ(t.runtime->request(child, "add 4", std::chrono::seconds(5)).reply, "4");
  n1->signal(SIGKILL);
  RequestResult got;
  ASSERT_TRUE(answer_within(*t.runtime, child, "get", std::chrono::seconds(10), &got));
  EXPECT_EQ(got.reply, "4");
  auto failed = t.events_of(child, "failed");
  ASSERT_FALSE(failed.empty());
  EXPECT_EQ(failed[0].detail, "node-down: node n1 is down");
  EXPECT_EQ(t.cluster->lookup(child)->node, "t");  // restarted beside its parent
  EXPECT_EQ(t.runtime->request(parent, "children", std::chrono::seconds(5)).reply, "[\"" + child + "\"]");
}

}  // namespace theater::test

namespace theater::test {

TEST_F(ClusterNodesTest, ANodeRestartedUnderItsNameTakesItsActorsBack) {
  auto n1 = node_process("n1", "echo", {"--sync-state"});
  ASSERT_FALSE(started_id(*n1).empty()) << n1->output();
  auto patient = config("t");
  patient.missed_heartbeats = 1000;  // this node never gives n1 up: only n1 itself can take them back
  auto& t = node("t", patient);
  const auto counter = t.cluster->spawn(example("counter"), std::nullopt, "", {.node = "n1"});
  ASSERT_EQ(t.runtime->request(counter, "add 2", std::chrono::seconds(5)).reply, "2");
  n1->signal(SIGKILL);
  n1->wait();
  auto again = node_process("n1", "echo");
  RequestResult got;
  ASSERT_TRUE(answer_within(*t.runtime, counter, "get", std::chrono::seconds(20), &got)) << again->output();
  EXPECT_EQ(got.reply, "2");
  EXPECT_EQ(t.cluster->lookup(counter)->node, "n1");
  EXPECT_FALSE(again->wait_for_line("node-down: node n1 is down", std::chrono::seconds(5)).empty()) << again->output();
}

}  // namespace theater::test
