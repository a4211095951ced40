#include "base/small_mutex.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

namespace theater {
namespace {

TEST(SmallMutex, IsOneByte) { EXPECT_EQ(sizeof(SmallMutex), 1u); }

TEST(SmallMutex, TryLockFailsWhileHeld) {
  SmallMutex m;
  ASSERT_TRUE(m.try_lock());
  EXPECT_FALSE(m.try_lock());
  m.unlock();
  EXPECT_TRUE(m.try_lock());
  m.unlock();
}

// Unprotected increments under the lock: a lock that let two threads in would lose some (and
// ThreadSanitizer, which runs this test in CI, would report the race).
TEST(SmallMutex, ExcludesOtherThreads) {
  SmallMutex m;
  long counter = 0;
  constexpr int kThreads = 4, kRounds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) {
        std::lock_guard lock(m);
        ++counter;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, long{kThreads} * kRounds);
}

}  // namespace
}  // namespace theater
