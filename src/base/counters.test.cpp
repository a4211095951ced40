#include "base/counters.hpp"

#include <gtest/gtest.h>

#include <barrier>
#include <thread>
#include <vector>

namespace theater {
namespace {

// More threads at once than there are shards: the first ones add plainly to shards of their own,
// the rest share the last shard and add atomically. Not one addition may be lost (shared threads
// once added to owned shards, where an owner's plain store lost some of their adds).
TEST(ShardedCounter, ManyMoreThreadsThanShardsLoseNoAddition) {
  constexpr int kThreads = 3 * static_cast<int>(kCounterShards);
  constexpr int kAdds = 20000;
  ShardedCounter counter;
  std::barrier all_alive(kThreads);  // every thread holds its shard before any adds
  std::vector<std::thread> threads;
  std::atomic<int> shared{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      if (!CounterShard::current().exclusive()) shared.fetch_add(1);
      all_alive.arrive_and_wait();
      for (int i = 0; i < kAdds; ++i) counter.add();
      counter.add(3);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter.value(), static_cast<uint64_t>(kThreads) * (kAdds + 3));
  EXPECT_GE(shared.load(), kThreads - static_cast<int>(kSharedShard));  // some did share
}

// A thread's shard is given back when it ends: rounds of threads, more in all than there are
// shards, each find one of their own (as long as few other threads in this process hold one).
TEST(ShardedCounter, AThreadGivesItsShardBackWhenItEnds) {
  constexpr int kPerRound = 6;
  ShardedCounter counter;
  for (int round = 0; round < 4; ++round) {  // 24 threads in all
    std::atomic<int> exclusive{0};
    std::barrier all_alive(kPerRound);
    std::vector<std::thread> threads;
    for (int t = 0; t < kPerRound; ++t) {
      threads.emplace_back([&] {
        counter.add();
        if (CounterShard::current().exclusive()) exclusive.fetch_add(1);
        all_alive.arrive_and_wait();  // all of the round alive at once
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(exclusive.load(), kPerRound) << "round " << round;
  }
  EXPECT_EQ(counter.value(), 4u * kPerRound);
}

}  // namespace
}  // namespace theater
