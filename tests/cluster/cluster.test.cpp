// The cluster with nodes in this process (each a Runtime joined over a private nats-server):
// the wire format, remote send / request / channel with the same answers and errors as locally,
// per-pair order across nodes, and the directory.
#include <set>
#include <thread>

#include "cluster/wire.hpp"
#include "cluster_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;

TEST(ClusterWire, RoundTripsEveryFieldAndRefusesBrokenInput) {
  cluster::WireMessage m;
  m.kind = cluster::WireKind::Request;
  m.rc = -4;
  m.request_id = 0x1122334455667788ULL;
  m.from = "ping-1";
  m.to = "pong-2";
  m.channel = "ch-a-1";
  m.reply_to = "theater.x.node.a.reply";
  m.bytes = std::string("bin\0ary", 7);
  const auto bytes = cluster::encode(m);
  auto back = cluster::decode(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, m.kind);
  EXPECT_EQ(back->rc, -4);
  EXPECT_EQ(back->request_id, m.request_id);
  EXPECT_EQ(back->from, m.from);
  EXPECT_EQ(back->to, m.to);
  EXPECT_EQ(back->channel, m.channel);
  EXPECT_EQ(back->reply_to, m.reply_to);
  EXPECT_EQ(back->bytes, m.bytes);
  for (size_t cut = 0; cut < bytes.size(); ++cut) EXPECT_FALSE(cluster::decode(bytes.substr(0, cut))) << cut;
  auto wrong_version = bytes;
  wrong_version[0] = 9;
  EXPECT_FALSE(cluster::decode(wrong_version));
  EXPECT_FALSE(cluster::decode(bytes + "x"));
}

// The sends of one actor turn to one node travel as one NATS message: a batch keeps them whole
// and in order, and a batch cut short is refused as a whole.
TEST(ClusterWire, ABatchKeepsItsMessagesInOrderAndRefusesBrokenInput) {
  std::vector<std::string> encoded;
  for (int i = 0; i < 3; ++i) {
    cluster::WireMessage m;
    m.from = "a-1";
    m.to = "b-2";
    m.bytes = fmt::format("seq {}", i);
    encoded.push_back(cluster::encode(m));
  }
  encoded.push_back("");  // an empty part is framed like any other
  std::string batch;
  for (const auto& e : encoded) cluster::append_to_batch(batch, e);
  auto parts = cluster::split_batch(batch);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) EXPECT_EQ((*parts)[i], encoded[i]);
  EXPECT_EQ(cluster::decode(std::string((*parts)[2]))->bytes, "seq 2");
  // Not a batch: a plain message, or another version.
  EXPECT_FALSE(cluster::split_batch(encoded[0]));
  EXPECT_FALSE(cluster::decode(batch)) << "a batch is not one message";
  std::string other = batch;
  other[0] = 2;
  EXPECT_FALSE(cluster::split_batch(other));
  // Cut anywhere inside a part or its length: refused.
  for (size_t cut : {batch.size() - 1, size_t{3}, size_t{7}}) EXPECT_FALSE(cluster::split_batch(batch.substr(0, cut))) << cut;
  EXPECT_TRUE(cluster::split_batch(batch.substr(0, 2)));  // the header alone: an empty batch
}

// A spawn whose manifest travels as text (spawn_on): the text and the initial state come apart
// again exactly, and bytes cut inside the text are refused.
TEST(ClusterWire, ASpawnsManifestTextAndInitialStateComeApart) {
  const std::string text = "name = \"echo\"\ncomponent = \"echo.wasm\"\n";
  const std::string init("st\0ate", 6);
  const auto bytes = cluster::encode_spawn_text(text, init);
  auto [t, i] = cluster::decode_spawn_text(bytes);
  EXPECT_EQ(t, text);
  EXPECT_EQ(i, init);
  auto [t2, i2] = cluster::decode_spawn_text(cluster::encode_spawn_text(text, ""));
  EXPECT_EQ(t2, text);
  EXPECT_EQ(i2, "");
  EXPECT_THROW(cluster::decode_spawn_text(bytes.substr(0, 10)), std::runtime_error);
  EXPECT_THROW(cluster::decode_spawn_text("ab"), std::runtime_error);
}

TEST(ClusterWire, AReplicatedStateKeepsItsChainHeadAndRefusesBrokenInput) {
  cluster::ReplicatedState s;
  s.state = std::string("st\0ate", 6);
  state::ChainHead head;
  head.seq = 0x0102030405060708ULL;
  for (size_t i = 0; i < head.hash.size(); ++i) head.hash[i] = static_cast<uint8_t>(i * 7);
  s.head = head;
  auto back = cluster::decode_state(cluster::encode(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state, s.state);
  ASSERT_TRUE(back->head);
  EXPECT_EQ(*back->head, head);
  // Without a head; and an empty state.
  s.head.reset();
  s.state.clear();
  back = cluster::decode_state(cluster::encode(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->state, "");
  EXPECT_FALSE(back->head);
  // Cut inside the head, a flag that is neither 0 nor 1, another version: refused.
  s.head = head;
  const auto bytes = cluster::encode(s);
  EXPECT_FALSE(cluster::decode_state(bytes.substr(0, 20)));
  EXPECT_FALSE(cluster::decode_state(std::string("\x01\x02", 2)));
  EXPECT_FALSE(cluster::decode_state(std::string("\x02\x00", 2)));
  EXPECT_FALSE(cluster::decode_state(""));
}

TEST_F(ClusterTest, RequestAndSendReachAnActorOnAnotherNode) {
  auto& a = node("a");
  auto& b = node("b");
  const auto echo = b.runtime->spawn(example("echo"));
  const auto counter = b.runtime->spawn(example("counter"));
  // From outside the actor system on node a.
  auto r = a.runtime->request(echo, "hello over nats", 5s);
  EXPECT_EQ(r.rc, abi::kOk);
  EXPECT_EQ(r.reply, "hello over nats");
  EXPECT_EQ(a.runtime->send(counter, "add 5"), abi::kOk);
  EXPECT_EQ(a.runtime->request(counter, "get", 5s).reply, "5");  // after the send: same pair, in order
  // From an actor on node a (the host functions take the same path).
  const auto probe = a.runtime->spawn(example("abi_probe"));
  EXPECT_EQ(a.runtime->request(probe, "request " + echo + " from an actor", 5s).reply, "from an actor");
  EXPECT_EQ(a.runtime->request(probe, "send " + counter + " inc", 5s).reply, "0");
  EXPECT_EQ(a.runtime->request(probe, "request " + counter + " get", 5s).reply, "6");
  // The directory knows where each one lives.
  auto placement = a.cluster->placement();
  EXPECT_EQ(placement["b"], (std::vector<std::string>{counter, echo}));
  EXPECT_EQ(placement["a"], std::vector<std::string>{probe});
}

// A node that left the cluster (detach: connections and buckets gone) still stops its actors
// without touching them, and refuses to place new ones with a clear error.
TEST_F(ClusterTest, ANodeThatLeftStopsItsActorsAndSpawnsNoMore) {
  auto& a = node("a");
  const auto echo = a.runtime->spawn(example("echo"));
  a.cluster->detach();
  EXPECT_TRUE(a.runtime->stop(echo));
  try {
    a.runtime->spawn(example("echo"));
    ADD_FAILURE() << "spawned on a node that left the cluster";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("has left the cluster"), std::string::npos) << e.what();
  }
  // An id it has never heard of is not looked up in a bucket it no longer has.
  EXPECT_FALSE(a.cluster->lookup("nobody-000000000000"));
  EXPECT_EQ(a.runtime->send("nobody-000000000000", "hi"), abi::kENOTFOUND);
}

// Runtime::stop/restart from any node: the node that hosts the actor does it.
TEST_F(ClusterTest, StopAndRestartFromAnotherNode) {
  auto& a = node("a");
  auto& b = node("b");
  const auto counter = b.runtime->spawn(example("counter"));
  EXPECT_EQ(a.runtime->send(counter, "add 3"), abi::kOk);
  EXPECT_EQ(a.runtime->request(counter, "get", 5s).reply, "3");
  ASSERT_TRUE(a.runtime->restart(counter));
  EXPECT_EQ(b.events_of(counter, "restarted").size(), 1u);
  EXPECT_EQ(a.runtime->request(counter, "get", 5s).reply, "3") << "restarted with its committed state";
  // Its events, from b's memory.
  auto events = a.runtime->remote()->events_of(counter);
  ASSERT_TRUE(events.has_value());
  std::vector<std::string> types;
  for (const auto& e : *events) {
    EXPECT_EQ(e.actor, counter);
    types.push_back(e.type);
  }
  EXPECT_NE(std::find(types.begin(), types.end(), "restarted"), types.end()) << fmt::format("{}", fmt::join(types, " "));
  EXPECT_EQ(events->size(), b.runtime->find(counter)->event_history().size());
  ASSERT_TRUE(a.runtime->stop(counter));
  EXPECT_EQ(b.events_of(counter, "stopped").size(), 1u);
  EXPECT_EQ(b.runtime->find(counter), nullptr);
  EXPECT_FALSE(a.runtime->stop(counter)) << "no node hosts it any more";
  EXPECT_FALSE(a.runtime->restart("nobody-000000000000"));
  EXPECT_FALSE(a.runtime->remote()->events_of(counter).has_value());
}

TEST_F(ClusterTest, UnknownIdsAreEnotfoundAsLocally) {
  auto& a = node("a");
  node("b");
  EXPECT_EQ(a.runtime->request("nobody-000000000000", "x", 2s).rc, abi::kENOTFOUND);
  EXPECT_EQ(a.runtime->send("nobody-000000000000", "x"), abi::kENOTFOUND);
  const auto probe = a.runtime->spawn(example("abi_probe"));
  EXPECT_EQ(a.runtime->request(probe, "request nobody-1 x", 5s).reply, std::to_string(abi::kENOTFOUND));
  EXPECT_EQ(a.runtime->request(probe, "open nobody-1 x", 5s).reply, std::to_string(abi::kENOTFOUND));
}

TEST_F(ClusterTest, RemoteErrorsAreTheLocalOnes) {
  auto& a = node("a");
  auto& b = node("b");
  const auto probe = b.runtime->spawn(example("abi_probe"));
  const auto echo = b.runtime->spawn(example("echo"));
  // Returned without replying: EINVAL, as locally.
  EXPECT_EQ(a.runtime->request(probe, "noreply", 5s).rc, abi::kEINVAL);
  EXPECT_EQ(b.runtime->request(probe, "noreply", 5s).rc, abi::kEINVAL);
  // The handler failed: EFAILED.
  EXPECT_EQ(a.runtime->request(probe, "stage_fail x", 5s).rc, abi::kEFAILED);
  // A busy target and a short wait: ETIMEOUT.
  auto busy = example("sequencer");
  busy.limits.mailbox = 1;
  busy.limits.handler_timeout_ms = 20000;
  const auto seq = b.runtime->spawn(busy);
  ASSERT_EQ(a.runtime->send(seq, "spin 1500"), abi::kOk);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(a.runtime->request(seq, "report", 200ms).rc, abi::kETIMEOUT);  // fills the mailbox of 1
  // ... whose mailbox is full now: EFULL comes back from node b.
  EXPECT_EQ(a.runtime->request(seq, "report", 2s).rc, abi::kEFULL);
  // A stopped actor is gone from the directory: ENOTFOUND, as for a local one that was removed.
  ASSERT_TRUE(b.runtime->stop(echo));
  EXPECT_EQ(a.runtime->request(echo, "x", 2s).rc, abi::kENOTFOUND);
}

TEST_F(ClusterTest, PerPairOrderHoldsAcrossNodes) {
  auto& a = node("a");
  auto& b = node("b");
  const auto checker = b.runtime->spawn(example("sequencer"));
  std::vector<std::string> senders;
  for (int i = 0; i < 4; ++i) senders.push_back(a.runtime->spawn(example("sequencer")));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(a.runtime->send(senders[i], fmt::format("burst {} s{} 2000", checker, i)), abi::kOk);
  }
  // Plus a thread of node a sending on its own.
  for (int n = 1; n <= 2000; ++n) ASSERT_EQ(a.runtime->send(checker, fmt::format("seq thread {}", n)), abi::kOk);
  std::string report;
  for (int i = 0; i < 200 && report != "received=10000 violations=0"; ++i) {
    std::this_thread::sleep_for(50ms);
    report = a.runtime->request(checker, "report", 5s).reply;
  }
  EXPECT_EQ(report, "received=10000 violations=0");
}

TEST_F(ClusterTest, ChannelsWorkBothWaysAcrossNodes) {
  auto& a = node("a");
  auto& b = node("b");
  const auto pa = a.runtime->spawn(example("abi_probe"));
  const auto pb = b.runtime->spawn(example("abi_probe"));
  EXPECT_EQ(a.runtime->request(pa, "open " + pb + " refuse", 5s).reply, std::to_string(abi::kEDENIED));
  const auto ch = a.runtime->request(pa, "open " + pb + " hi", 5s).reply;
  ASSERT_EQ(ch.rfind("ch-a-", 0), 0u) << ch;  // channel ids name the opener's node
  EXPECT_EQ(a.runtime->request(pa, "chsend " + ch + " hello", 5s).reply, "0");
  auto state_of = [](Node& n, const std::string& id) { return n.runtime->request(id, "state", 5s).reply; };
  for (int i = 0; i < 100 && state_of(b, pb) != "ch=hello"; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(state_of(b, pb), "ch=hello");
  // The target answers on the same channel.
  EXPECT_EQ(b.runtime->request(pb, "chsend " + ch + " back", 5s).reply, "0");
  for (int i = 0; i < 100 && state_of(a, pa) != "ch=back"; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(state_of(a, pa), "ch=back");
  // Closing tells the other side and ends the channel on both nodes.
  EXPECT_EQ(a.runtime->request(pa, "chclose " + ch, 5s).reply, "0");
  for (int i = 0; i < 100 && state_of(b, pb) != "closed=" + ch; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(state_of(b, pb), "closed=" + ch);
  EXPECT_EQ(b.runtime->request(pb, "chsend " + ch + " late", 5s).reply, std::to_string(abi::kENOTFOUND));
}

}  // namespace theater::test

namespace theater::test {

TEST_F(ClusterTest, AParentSupervisesAChildOnAnotherNode) {
  auto& a = node("a");
  auto& b = node("b");
  const auto parent = a.runtime->spawn(example("abi_probe"));
  const auto child = a.cluster->spawn(example("counter"), std::nullopt, parent, {.node = "b"});
  EXPECT_EQ(a.cluster->lookup(child)->node, "b");
  ASSERT_TRUE(b.runtime->find(child));
  EXPECT_EQ(a.runtime->find(child)->status(), ActorStatus::Running);  // its proxy here
  EXPECT_EQ(a.runtime->request(child, "add 5", 5s).reply, "5");
  EXPECT_EQ(a.runtime->request(parent, "children", 5s).reply, "[\"" + child + "\"]");
  for (const auto& s : a.runtime->list()) EXPECT_EQ(s.node, s.id == child ? "b" : "a") << s.id;  // for dashboards
  // It fails on node b; its parent on node a decides (restart), node b restarts it, same state.
  EXPECT_EQ(a.runtime->request(child, "crash", 5s).rc, abi::kEFAILED);
  RequestResult got;
  for (int i = 0; i < 200 && got.reply != "5"; ++i) {
    std::this_thread::sleep_for(20ms);
    got = a.runtime->request(child, "get", 5s);
  }
  EXPECT_EQ(got.reply, "5");
  EXPECT_EQ(a.events_of(child, "failed").size(), 1u);
  EXPECT_EQ(a.events_of(child, "restarting").size(), 1u);
  EXPECT_EQ(b.events_of(child, "restarted").size(), 1u);
  // The parent stops it: stopped on node b, gone from the directory.
  EXPECT_EQ(a.runtime->request(parent, "stop " + child, 5s).reply, "0");
  EXPECT_EQ(a.runtime->request(child, "get", 2s).rc, abi::kENOTFOUND);
  EXPECT_FALSE(b.runtime->find(child));
  EXPECT_EQ(a.runtime->request(parent, "children", 5s).reply, "[]");
}

// An actor places a child itself (spawn_on, manifest text): on the node it names, or the one a
// policy picks; it supervises the child there as any other (its proxy here, among its children).
TEST_F(ClusterTest, AnActorSpawnsAChildOnAnotherNode) {
  auto& a = node("a");
  auto& b = node("b");
  for (int i = 0; i < 100 && a.cluster->nodes().size() < 2; ++i) std::this_thread::sleep_for(20ms);
  const auto probe = a.runtime->spawn(example("abi_probe"));
  auto r = a.runtime->request(probe, "spawn_on node:b", 10s);
  ASSERT_EQ(r.rc, abi::kOk);
  const std::string child = r.reply;
  ASSERT_EQ(child.rfind("echo-", 0), 0u) << child;
  auto real = b.runtime->find(child);
  ASSERT_TRUE(real && real->module) << "it runs on b";
  EXPECT_EQ(real->parent, probe);
  auto proxy = a.runtime->find(child);
  ASSERT_TRUE(proxy && proxy->is_proxy());
  EXPECT_EQ(proxy->status(), ActorStatus::Running);
  EXPECT_EQ(a.cluster->lookup(child)->node, "b");
  EXPECT_EQ(a.runtime->request(probe, "children", 5s).reply, "[\"" + child + "\"]");
  EXPECT_EQ(a.runtime->request(child, "hello", 5s).reply, "hello");
  // The parent stops it: stopped on b.
  EXPECT_EQ(a.runtime->request(probe, "stop " + child, 5s).reply, "0");
  EXPECT_FALSE(b.runtime->find(child));
  // Here, by name or by policy; the policies pick live nodes.
  auto here = a.runtime->request(probe, "spawn_on node:a", 10s).reply;
  EXPECT_TRUE(a.runtime->find(here) && a.runtime->find(here)->module) << here;
  EXPECT_TRUE(a.runtime->find(a.runtime->request(probe, "spawn_on near-parent", 10s).reply));
  std::set<std::string> spread;
  for (int i = 0; i < 2; ++i) {
    const auto id = a.runtime->request(probe, "spawn_on spread", 10s).reply;
    ASSERT_TRUE(a.cluster->lookup(id)) << id;
    spread.insert(a.cluster->lookup(id)->node);
  }
  EXPECT_EQ(spread, (std::set<std::string>{"a", "b"}));
  // A node that is not there, or a placement that is not one: refused, recorded, nothing started.
  const auto before = a.runtime->request(probe, "children", 5s).reply;
  EXPECT_EQ(a.runtime->request(probe, "spawn_on node:nowhere", 10s).reply, "-2");
  EXPECT_EQ(a.runtime->request(probe, "spawn_on anywhere", 10s).reply, "-1");
  EXPECT_EQ(a.runtime->request(probe, "children", 5s).reply, before);
  EXPECT_EQ(a.events_of(probe, "spawn-refused").size(), 2u);
}

TEST_F(ClusterTest, PlacementPicksANode) {
  auto& a = node("a");
  node("b");
  for (int i = 0; i < 100 && a.cluster->nodes().size() < 2; ++i) std::this_thread::sleep_for(20ms);
  using Policy = cluster::Placement::Policy;
  const auto near = a.cluster->spawn(example("echo"), std::nullopt, "", {});
  EXPECT_EQ(a.cluster->lookup(near)->node, "a");
  const auto first = a.cluster->spawn(example("echo"), std::nullopt, "", {Policy::Spread});
  const auto second = a.cluster->spawn(example("echo"), std::nullopt, "", {Policy::Spread});
  EXPECT_NE(a.cluster->lookup(first)->node, a.cluster->lookup(second)->node);
  EXPECT_EQ(a.runtime->request(second, "anywhere", 5s).reply, "anywhere");
  EXPECT_THROW(a.cluster->spawn(example("echo"), std::nullopt, "", {.node = "nowhere"}), std::runtime_error);
}

}  // namespace theater::test
