#include "actor/monitors.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace theater {
namespace {

TEST(MonitorTable, ATargetThatStopsHandsOverEachMonitorOfItOnce) {
  MonitorTable m;
  m.add("a", "t");
  m.add("b", "t");
  m.add("a", "t");  // a second monitor by the same watcher: told twice
  m.add("a", "u");
  auto watchers = m.take_watchers_of("t");
  std::sort(watchers.begin(), watchers.end());
  EXPECT_EQ(watchers, (std::vector<std::string>{"a", "a", "b"}));
  EXPECT_TRUE(m.take_watchers_of("t").empty());
  EXPECT_EQ(m.take_watchers_of("u"), std::vector<std::string>{"a"});
  EXPECT_EQ(m.size(), 0u);
}

TEST(MonitorTable, RemoveTakesOneMonitorAndSaysWhenThereIsNone) {
  MonitorTable m;
  m.add("a", "t");
  m.add("a", "t");
  EXPECT_TRUE(m.remove("a", "t"));
  EXPECT_FALSE(m.remove("b", "t"));
  EXPECT_EQ(m.take_watchers_of("t"), std::vector<std::string>{"a"});
  EXPECT_FALSE(m.remove("a", "t"));
}

TEST(MonitorTable, AWatcherThatStopsDropsAllItsMonitorsAndNoOneElses) {
  MonitorTable m;
  m.add("a", "t");
  m.add("a", "u");
  m.add("b", "t");
  m.add("ab", "t");  // a watcher whose id starts with another's
  m.drop_watcher("a");
  EXPECT_EQ(m.size(), 2u);
  auto watchers = m.take_watchers_of("t");
  std::sort(watchers.begin(), watchers.end());
  EXPECT_EQ(watchers, (std::vector<std::string>{"ab", "b"}));
  EXPECT_TRUE(m.take_watchers_of("u").empty());
}

// Stopping many watchers costs each its own monitors, not a walk over all of them: 20,000
// watchers of one target drop out one by one (quadratic before: 200 million comparisons).
TEST(MonitorTable, ManyWatchersDropOutOneByOne) {
  MonitorTable m;
  constexpr int kWatchers = 20000;
  for (int i = 0; i < kWatchers; ++i) m.add("w" + std::to_string(i), "t");
  for (int i = 0; i < kWatchers; i += 2) m.drop_watcher("w" + std::to_string(i));
  EXPECT_EQ(m.take_watchers_of("t").size(), static_cast<size_t>(kWatchers / 2));
  EXPECT_EQ(m.size(), 0u);
}

}  // namespace
}  // namespace theater
