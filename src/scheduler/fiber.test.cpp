#include "scheduler/fiber.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace theater {

TEST(Fiber, RunsToCompletion) {
  int ran = 0;
  Fiber f([&] { ran = 1; });
  EXPECT_FALSE(f.finished());
  f.resume();
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(f.finished());
}

TEST(Fiber, SuspendsAndResumesWhereItLeftOff) {
  std::vector<int> trace;
  Fiber f([&] {
    trace.push_back(1);
    Fiber::current()->suspend();
    trace.push_back(3);
  });
  f.resume();
  trace.push_back(2);
  EXPECT_FALSE(f.finished());
  f.resume();
  EXPECT_EQ(trace, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(f.finished());
  EXPECT_EQ(Fiber::current(), nullptr);
}

// pthread_self() is a const function: the compiler may reuse its value across a fiber switch.
[[gnu::noinline]] std::thread::id this_thread_id() { return std::this_thread::get_id(); }

TEST(Fiber, ResumesOnAnotherThread) {
  std::thread::id first, second;
  Fiber f([&] {
    first = this_thread_id();
    Fiber::current()->suspend();
    second = this_thread_id();
    EXPECT_EQ(Fiber::current(), &f);
  });
  f.resume();
  std::thread([&] { f.resume(); }).join();
  EXPECT_TRUE(f.finished());
  EXPECT_NE(first, second);
}

TEST(Fiber, DeepRecursionFitsOnTheStack) {
  // Wasm recursion runs on fiber stacks: 10,000 frames of a few hundred bytes must fit.
  std::function<int(int)> rec = [&](int n) -> int {
    volatile char pad[200];
    pad[0] = static_cast<char>(n);
    return n == 0 ? pad[0] : rec(n - 1) + 1;
  };
  int result = 0;
  Fiber f([&] { result = rec(10000); });
  f.resume();
  EXPECT_EQ(result, 10000);
}

TEST(Fiber, AFinishedFiberRunsTheNextBodyOnItsStack) {
  std::vector<int> trace;
  auto f = Fiber::make([&] { trace.push_back(1); });
  f->resume();
  ASSERT_TRUE(f->finished());
  const uintptr_t stack = f->stack_low();
  Fiber* raw = f.get();
  Fiber::recycle(std::move(f));
  auto g = Fiber::make([&] {
    trace.push_back(2);
    Fiber::current()->suspend();
    trace.push_back(3);
  });
  EXPECT_EQ(g.get(), raw);  // the same fiber, kept by this thread
  EXPECT_EQ(g->stack_low(), stack);
  EXPECT_FALSE(g->finished());
  g->resume();
  EXPECT_FALSE(g->finished());
  g->resume();
  EXPECT_TRUE(g->finished());
  EXPECT_EQ(trace, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(Fiber::current(), nullptr);
}

TEST(Fiber, DestroysParkedAndSuspendedFibers) {
  int unwound = 0;
  struct Guard {
    int& n;
    ~Guard() { ++n; }
  };
  {
    Fiber parked([] {});
    parked.resume();  // finished: parked in its loop
    Fiber suspended([&] {
      Guard g{unwound};
      Fiber::current()->suspend();
    });
    suspended.resume();
  }
  EXPECT_EQ(unwound, 1);  // the suspended body was unwound
  EXPECT_EQ(Fiber::current(), nullptr);
}

}  // namespace theater
