#include "state/chain.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vector>

namespace theater::state {
namespace {

std::vector<StoredEvent> make_chain(int n) {
  std::vector<StoredEvent> out;
  Hash prev{};
  for (int i = 1; i <= n; ++i) {
    StoredEvent e;
    e.seq = static_cast<uint64_t>(i);
    e.time_ms = 1700000000000 + i;
    e.type = EventType::Received;
    PayloadWriter(e.payload).u8(0).str("external").str("").i64(0).blob("msg " + std::to_string(i), 1024);
    e.hash = event_hash(prev, e.seq, e.time_ms, e.type, e.payload);
    prev = e.hash;
    out.push_back(e);
  }
  return out;
}

TEST(Chain, TheHashIsOfTheDocumentedLayout) {
  // docs/state.md: SHA-256("theater-event-v1" | prev | seq BE64 | time BE64 | type | len BE32 | payload).
  Hash prev{};
  prev[31] = 1;
  std::string layout = "theater-event-v1";
  layout.append(reinterpret_cast<const char*>(prev.data()), 32);
  layout += std::string("\0\0\0\0\0\0\0\x07", 8);
  layout += std::string("\0\0\0\0\0\0\x01\x00", 8);
  layout += '\x09';
  layout += std::string("\0\0\0\x02", 4);
  layout += "hi";
  EXPECT_EQ(event_hash(prev, 7, 256, EventType::Failure, "hi"), sha256(layout));
  EXPECT_EQ(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Chain, PayloadsReadBackAsWritten) {
  std::string p;
  PayloadWriter(p).u8(3).u32(70000).i64(-5).str("abc").blob("0123456789", 4).blob("xyz", 100);
  PayloadReader r(p);
  EXPECT_EQ(r.u8(), 3);
  EXPECT_EQ(r.u32(), 70000u);
  EXPECT_EQ(r.i64(), -5);
  EXPECT_EQ(r.str(), "abc");
  auto b = r.blob();
  EXPECT_EQ(b.size, 10u);
  EXPECT_EQ(b.stored, "0123");
  EXPECT_FALSE(b.complete());
  EXPECT_EQ(b.hash, sha256("0123456789"));
  auto c = r.blob();
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(c.stored, "xyz");
  EXPECT_TRUE(r.done());
  EXPECT_THROW(r.u8(), PayloadError);
}

TEST(Chain, VerifyNamesTheFirstBrokenLink) {
  auto chain = make_chain(6);
  EXPECT_FALSE(verify_chain(chain));

  auto flipped = chain;
  flipped[3].payload[20] ^= 1;  // a byte of event 4's payload
  auto broken = verify_chain(flipped);
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->seq, 4u);

  auto rehashed = flipped;  // event 4 re-hashed to match: event 5 no longer links to it
  rehashed[3].hash = event_hash(rehashed[2].hash, 4, rehashed[3].time_ms, rehashed[3].type, rehashed[3].payload);
  broken = verify_chain(rehashed);
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->seq, 5u);

  auto gap = chain;
  gap.erase(gap.begin() + 2);
  broken = verify_chain(gap);
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->seq, 3u);
  EXPECT_NE(broken->reason.find("missing"), std::string::npos);

  auto retimed = chain;
  retimed[0].time_ms += 1;
  EXPECT_EQ(verify_chain(retimed)->seq, 1u);
}

// A node that took an actor over goes on from the head where the chain ended elsewhere: the one
// gap allowed is at a "continued" event, and that event must link to the head it names.
TEST(Chain, AContinuedEventLinksToTheHeadItNames) {
  const auto elsewhere = make_chain(5);  // on the node the actor came from
  const ChainHead head{3, elsewhere[2].hash};  // the cluster replicated the commit at event 3
  auto continued = [&](uint64_t seq, const ChainHead& h) {
    StoredEvent e;
    e.seq = seq;
    e.time_ms = 1700000001000;
    e.type = EventType::Continued;
    PayloadWriter(e.payload).str("n1").u64(h.seq).str(hex(h.hash));
    e.hash = event_hash(h.hash, e.seq, e.time_ms, e.type, e.payload);
    return e;
  };
  auto then = [](std::vector<StoredEvent> chain) {
    StoredEvent e;
    e.seq = chain.back().seq + 1;
    e.time_ms = 1700000002000;
    e.type = EventType::Note;
    PayloadWriter(e.payload).str("resumed").str("");
    e.hash = event_hash(chain.back().hash, e.seq, e.time_ms, e.type, e.payload);
    chain.push_back(e);
    return chain;
  };
  // A fresh node: its chain starts at the continued event (seq 4).
  auto here = then({continued(4, head)});
  EXPECT_FALSE(verify_chain(here));
  std::string from;
  ASSERT_TRUE(continued_from(here[0], &from));
  EXPECT_EQ(*continued_from(here[0]), head);
  EXPECT_EQ(from, "n1");
  EXPECT_FALSE(continued_from(here[1]));
  // A node that had the actor before (events 1..5 of a branch the cluster did not keep): the
  // continued event comes after them, at 6.
  auto back = elsewhere;
  back.push_back(continued(6, head));
  EXPECT_FALSE(verify_chain(then(back)));
  // Any other gap is still a missing event.
  auto gap = make_chain(5);
  gap.erase(gap.begin() + 3);
  ASSERT_TRUE(verify_chain(gap));
  EXPECT_EQ(verify_chain(gap)->seq, 4u);
  // A continued event whose hash does not use the head it names is broken.
  auto forged = continued(4, head);
  forged.hash = event_hash(elsewhere[4].hash, forged.seq, forged.time_ms, forged.type, forged.payload);
  ASSERT_TRUE(verify_chain(std::vector<StoredEvent>{forged}));
  EXPECT_EQ(verify_chain(std::vector<StoredEvent>{forged})->seq, 4u);
  // A head at or past the event itself is no link.
  EXPECT_FALSE(continued_from(continued(3, head)));
  EXPECT_EQ(describe(here[0])["from_node"], "n1");
  EXPECT_EQ(describe(here[0])["prev_seq"], 3);
}

TEST(Chain, DescribeDecodesHostEvents) {
  StoredEvent e;
  e.seq = 1;
  e.type = EventType::Host;
  PayloadWriter(e.payload).u8(static_cast<uint8_t>(HostCall::StoreGet)).str("sha256:ab").blob("", 10).i64(0).blob(
      std::string("\x01\x02", 2), 10);
  auto j = describe(e);
  EXPECT_EQ(j["call"], "store_get");
  EXPECT_EQ(j["key"], "sha256:ab");
  EXPECT_EQ(j["output"]["hex"], "0102");
  EXPECT_EQ(summary(e), "store_get sha256:ab -> 0 0x0102");
  e.payload.resize(3);
  EXPECT_TRUE(describe(e).contains("payload_error"));
}

TEST(Chain, EveryTypeAndCallHasAName) {
  for (int i = 1; i <= kLastEventType; ++i) {
    const auto t = static_cast<EventType>(i);
    EXPECT_EQ(event_type_named(to_string(t)), t);
  }
  for (int i = 1; i <= kLastHostCall; ++i) EXPECT_STRNE(to_string(static_cast<HostCall>(i)), "?");
}

}  // namespace
}  // namespace theater::state
