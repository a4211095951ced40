#include "actor/events.hpp"

#include <gtest/gtest.h>

namespace theater {
namespace {

Event event(std::string type, std::string detail) {
  Event e;
  e.time_ms = 7;
  e.type = std::move(type);
  e.detail = std::move(detail);
  return e;
}

TEST(EventLog, NumbersEventsAndFillsInTheActor) {
  EventLog log;
  auto a = event("created", "a.toml");
  auto b = event("started", "");
  log.add(a);
  log.add(b);
  EXPECT_EQ(a.seq, 1u) << "add() numbers the caller's event: observers see the same seq";
  EXPECT_EQ(b.seq, 2u);
  const auto got = log.snapshot("id-1", "counter");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 1u);
  EXPECT_EQ(got[0].type, "created");
  EXPECT_EQ(got[0].detail, "a.toml");
  EXPECT_EQ(got[0].actor, "id-1");
  EXPECT_EQ(got[0].name, "counter");
  EXPECT_EQ(got[0].time_ms, 7);
  EXPECT_EQ(got[1].type, "started");
}

TEST(EventLog, KeepsTheNewestOldestFirst) {
  EventLog log(3);
  for (int i = 0; i < 8; ++i) {
    auto e = event("log", std::to_string(i));
    log.add(e);
  }
  const auto got = log.snapshot("x", "y");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].detail, "5");
  EXPECT_EQ(got[1].detail, "6");
  EXPECT_EQ(got[2].detail, "7");
  EXPECT_EQ(got[2].seq, 8u);
  log.compact();
  EXPECT_EQ(log.snapshot("x", "y").size(), 3u) << "compact() keeps every event";
}

TEST(EventLog, APackedLogReadsAndGrowsAsBefore) {
  EventLog log(4);
  for (int i = 0; i < 6; ++i) {  // a full ring, its oldest entry in the middle
    auto e = event(i % 2 ? "log" : "started", std::string("detail ") + std::to_string(i) + std::string(1, '\0'));
    e.time_ms = 100 + i;
    log.add(e);
  }
  const auto before = log.snapshot("x", "y");
  log.compact();
  const auto packed = log.snapshot("x", "y");
  ASSERT_EQ(packed.size(), 4u);
  for (size_t i = 0; i < packed.size(); ++i) {
    EXPECT_EQ(packed[i].seq, before[i].seq);
    EXPECT_EQ(packed[i].time_ms, before[i].time_ms);
    EXPECT_EQ(packed[i].type, before[i].type);
    EXPECT_EQ(packed[i].detail, before[i].detail);
  }
  EXPECT_EQ(packed[0].seq, 3u);
  EXPECT_EQ(packed[0].detail, std::string("detail 2") + std::string(1, '\0'));
  auto e = event("resumed", "woken");
  log.add(e);
  EXPECT_EQ(e.seq, 7u);
  const auto after = log.snapshot("x", "y");
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[0].seq, 4u);
  EXPECT_EQ(after[3].type, "resumed");
  EXPECT_EQ(after[3].detail, "woken");
  EventLog empty;
  empty.compact();
  EXPECT_TRUE(empty.snapshot("x", "y").empty());
}

TEST(Event, JsonOfBytesThatAreNotUtf8) {
  Event e = event("log", std::string("bad \xff\xfe bytes"));
  e.actor = "a-1";
  std::string text;
  ASSERT_NO_THROW(text = e.json()) << "an actor's log line may hold any bytes";
  EXPECT_NE(text.find("bad \xEF\xBF\xBD"), std::string::npos) << text;  // U+FFFD
  EXPECT_NE(text.find("\"actor\":\"a-1\""), std::string::npos) << text;
}

}  // namespace
}  // namespace theater
