#include "scheduler/fiber.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace theater {

// pthread_self() is a const function: the compiler may reuse its value across a fiber switch.
[[gnu::noinline]] std::thread::id this_thread_id() { return std::this_thread::get_id(); }

namespace {

// A worker stand-in: a thread that runs jobs from its own queue on loop fibers. Its loop reads
// the queue of the thread it is on afresh after every job: a job that parked may come back on
// another thread.
struct JobQueue {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool stop = false;

  void post(std::function<void()> job) {
    {
      std::lock_guard lock(m);
      jobs.push_back(std::move(job));
    }
    cv.notify_all();
  }
  void finish() {
    {
      std::lock_guard lock(m);
      stop = true;
    }
    cv.notify_all();
  }
};
thread_local JobQueue* t_jobs = nullptr;
[[gnu::noinline]] JobQueue* jobs_here() { return t_jobs; }

void run_jobs(void*) {
  for (;;) {
    JobQueue* q = jobs_here();
    std::function<void()> job;
    {
      std::unique_lock lock(q->m);
      q->cv.wait(lock, [q] { return q->stop || !q->jobs.empty(); });
      if (q->jobs.empty()) return;
      job = std::move(q->jobs.front());
      q->jobs.pop_front();
    }
    job();
  }
}

struct JobThread {
  JobQueue queue;
  std::thread thread{[this] {
    t_jobs = &queue;
    Fiber::run_loop(run_jobs, nullptr);
    EXPECT_EQ(Fiber::current(), nullptr);
    EXPECT_FALSE(Fiber::on_loop());
  }};
  ~JobThread() {
    queue.finish();
    thread.join();
  }
  // Runs fn on this thread's loop and waits for it.
  void run(std::function<void()> fn) {
    std::promise<void> done;
    queue.post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
};

}  // namespace

TEST(FiberLoop, AParkedJobContinuesOnAnotherThreadWhileItsThreadGoesOn) {
  auto a = std::make_unique<JobThread>();
  auto b = std::make_unique<JobThread>();
  std::unique_ptr<Fiber> keeper;
  Fiber* parked_fiber = nullptr;
  std::thread::id parked_on, continued_on, b_id;
  std::promise<void> continued;
  a->queue.post([&] {
    parked_fiber = Fiber::current();
    EXPECT_TRUE(Fiber::on_loop());
    parked_on = this_thread_id();
    Fiber::park_current(keeper);
    continued_on = this_thread_id();
    EXPECT_EQ(Fiber::current(), parked_fiber);
    continued.set_value();
  });
  // Runs after the park, on a fresh loop fiber of the same thread.
  a->run([&] {
    EXPECT_NE(Fiber::current(), parked_fiber);
    EXPECT_TRUE(Fiber::on_loop());
  });
  ASSERT_TRUE(keeper);
  EXPECT_EQ(keeper.get(), parked_fiber);
  b->run([&] { b_id = this_thread_id(); });
  b->queue.post([&] { Fiber::continue_here(std::move(keeper)); });
  continued.get_future().wait();
  EXPECT_EQ(continued_on, b_id);
  EXPECT_NE(parked_on, continued_on);
  // Both threads go on serving their own queues (b now on the fiber that came from a).
  std::thread::id later_a, later_b;
  a->run([&] { later_a = this_thread_id(); });
  b->run([&] { later_b = this_thread_id(); });
  EXPECT_EQ(later_a, parked_on);
  EXPECT_EQ(later_b, b_id);
  a.reset();
  b.reset();  // its spare, taken up at the end, returns from continue_here and ends too
}

TEST(FiberLoop, ManyParkedJobsContinueAndSparesPastTheLimitAreUnwound) {
  constexpr int kJobs = 40;  // more than a thread keeps as spares
  auto a = std::make_unique<JobThread>();
  auto b = std::make_unique<JobThread>();
  std::vector<std::unique_ptr<Fiber>> keepers(kJobs);
  std::atomic<int> finished{0}, spares_unwound{0}, spares_returned{0};
  struct Guard {
    std::atomic<int>& n;
    ~Guard() { ++n; }
  };
  for (int i = 0; i < kJobs; ++i) {
    a->queue.post([&, i] {
      Fiber::park_current(keepers[i]);
      ++finished;
    });
  }
  a->run([] {});  // every job has parked
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_TRUE(keepers[i]);
    b->queue.post([&, i] {
      Guard unwound{spares_unwound};
      Fiber::continue_here(std::move(keepers[i]));
      ++spares_returned;  // only a spare taken up again gets here
    });
  }
  b->run([] {});
  EXPECT_EQ(finished.load(), kJobs);
  b.reset();
  a.reset();
  // Each continue_here left a spare: the ones past the limit were unwound, the rest returned.
  EXPECT_EQ(spares_unwound.load(), kJobs);
  EXPECT_GT(spares_returned.load(), 0);
  EXPECT_LT(spares_returned.load(), kJobs);
}

TEST(FiberLoop, AParkedFiberThatIsDestroyedUnwindsItsJob) {
  auto a = std::make_unique<JobThread>();
  std::unique_ptr<Fiber> keeper;
  int unwound = 0;
  bool went_on = false;
  struct Guard {
    int& n;
    ~Guard() { ++n; }
  };
  a->queue.post([&] {
    Guard g{unwound};
    Fiber::park_current(keeper);
    went_on = true;
  });
  a->run([] {});
  ASSERT_TRUE(keeper);
  keeper.reset();
  EXPECT_EQ(unwound, 1);
  EXPECT_FALSE(went_on);
  a->run([] {});  // the thread goes on
}

TEST(Fiber, DeepRecursionFitsOnTheStack) {
  // Wasm recursion runs on loop fibers' stacks: 10,000 frames of a few hundred bytes must fit.
  std::function<int(int)> rec = [&](int n) -> int {
    volatile char pad[200];
    pad[0] = static_cast<char>(n);
    return n == 0 ? pad[0] : rec(n - 1) + 1;
  };
  int result = 0;
  JobThread a;
  a.run([&] { result = rec(10000); });
  EXPECT_EQ(result, 10000);
}

TEST(Fiber, NoneRunsOutsideALoop) {
  EXPECT_EQ(Fiber::current(), nullptr);
  EXPECT_FALSE(Fiber::on_loop());
  JobThread a;
  Fiber* inside = nullptr;
  a.run([&] {
    inside = Fiber::current();
    EXPECT_TRUE(Fiber::on_loop());
  });
  EXPECT_NE(inside, nullptr);
}

}  // namespace theater
