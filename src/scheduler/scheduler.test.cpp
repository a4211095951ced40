#include "scheduler/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <map>
#include <set>

#include "engine/engine.hpp"
#include "scheduler/fiber.hpp"
#include "scheduler/mailbox.hpp"

namespace theater {

namespace {
// A task that drains a counter of pending work, one unit per turn step, recording its threads.
class CountingTask : public Task {
 public:
  void run_turn() override {
    EXPECT_FALSE(running.exchange(true)) << "a task ran on two workers at once";
    int did = 0;
    for (; did < 8 && pending.load() > 0; ++did) {
      pending.fetch_sub(1);
      done.fetch_add(1);
    }
    {
      std::lock_guard lock(m);
      threads.insert(std::this_thread::get_id());
      done_by[std::this_thread::get_id()] += did;
    }
    running.store(false);
  }
  bool has_work() const override { return pending.load() > 0; }
  std::atomic<int> pending{0}, done{0};
  std::atomic<bool> running{false};
  std::mutex m;
  std::set<std::thread::id> threads;
  std::map<std::thread::id, int> done_by;
};

void wait_until(const std::function<bool()>& cond) {
  for (int i = 0; i < 15000 && !cond(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
}  // namespace

TEST(Scheduler, EveryScheduledUnitOfWorkRunsExactlyOnce) {
  Scheduler s(2);
  std::vector<std::shared_ptr<CountingTask>> tasks;
  for (int i = 0; i < 50; ++i) tasks.push_back(std::make_shared<CountingTask>());
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&] {
      for (int n = 0; n < 1000; ++n) {
        auto& t = tasks[static_cast<size_t>(n) % tasks.size()];
        t->pending.fetch_add(1);
        s.schedule(t);
      }
    });
  }
  for (auto& p : producers) p.join();
  wait_until([&] {
    int total = 0;
    for (auto& t : tasks) total += t->done.load();
    return total == 4000;
  });
  int total = 0;
  for (auto& t : tasks) total += t->done.load();
  EXPECT_EQ(total, 4000);
}

// Tasks that each hold their worker until the other has started on another worker: with two
// workers they meet at once; a scheduler that ran them on one worker would keep the second
// waiting behind the first, which gives up after 10 s. (No timing involved: a loaded machine
// only delays the meeting.)
class RendezvousTask : public Task {
 public:
  explicit RendezvousTask(std::atomic<int>& arrived) : arrived_(arrived) {}
  void run_turn() override {
    thread = std::this_thread::get_id();
    arrived_.fetch_add(1);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (arrived_.load() < 2 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    met = arrived_.load() >= 2;
    ran = true;
  }
  bool has_work() const override { return !ran.load(); }
  std::atomic<int>& arrived_;
  std::atomic<bool> ran{false};
  bool met = false;
  std::thread::id thread;
};

TEST(Scheduler, UsesAllWorkers) {
  Scheduler s(2);
  std::atomic<int> arrived{0};
  auto a = std::make_shared<RendezvousTask>(arrived);
  auto b = std::make_shared<RendezvousTask>(arrived);
  s.schedule(a);
  s.schedule(b);
  wait_until([&] { return a->ran.load() && b->ran.load(); });
  ASSERT_TRUE(a->ran.load() && b->ran.load());
  EXPECT_TRUE(a->met && b->met) << "the two tasks never ran at the same time";
  EXPECT_NE(a->thread, b->thread);
}

// Work created on a worker (an actor messaging many others) lands in that worker's own queue;
// the other worker must steal it rather than sit idle.
TEST(Scheduler, IdleWorkersStealWorkCreatedOnAnotherWorker) {
  Scheduler s(2);
  std::vector<std::shared_ptr<CountingTask>> many;
  for (int i = 0; i < 200; ++i) {
    many.push_back(std::make_shared<CountingTask>());
    many.back()->pending = 2000;
  }
  class Spawner : public Task {
   public:
    Spawner(Scheduler& s, std::vector<std::shared_ptr<CountingTask>>& tasks) : s_(s), tasks_(tasks) {}
    void run_turn() override {
      for (auto& t : tasks_) s_.schedule(t);
      done = true;
    }
    bool has_work() const override { return false; }
    bool done = false;

   private:
    Scheduler& s_;
    std::vector<std::shared_ptr<CountingTask>>& tasks_;
  };
  s.schedule(std::make_shared<Spawner>(s, many));
  wait_until([&] {
    for (auto& m : many) {
      if (m->pending.load() > 0) return false;
    }
    return true;
  });
  std::set<std::thread::id> all;
  int total = 0;
  for (auto& m : many) {
    wait_until([&] { return !m->running.load(); });  // its last turn has recorded its thread
    std::lock_guard lock(m->m);
    all.insert(m->threads.begin(), m->threads.end());
    total += m->done.load();
  }
  EXPECT_EQ(total, 200 * 2000);
  EXPECT_EQ(all.size(), 2u);
  EXPECT_GT(s.stats().steals, 0u);
}

// A turn that waits keeps the worker's fiber, as an actor's request does: the worker goes on with
// other tasks meanwhile, and the turn continues where it left off on whichever worker runs the
// task next. Each task here waits kWaits times in one turn, woken each time from the timer thread.
class WaitingTask : public Task, public std::enable_shared_from_this<WaitingTask> {
 public:
  static constexpr int kWaits = 30;
  explicit WaitingTask(Scheduler& s) : s_(s) {}
  void run_turn() override {
    EXPECT_FALSE(running_.exchange(true)) << "a task ran on two workers at once";
    if (parked_) {
      running_.store(false);  // (the turn that continues sets it again)
      Fiber::continue_here(std::move(parked_));
      return;
    }
    for (int i = 0; i < kWaits; ++i) {
      waiting_.store(true);
      s_.after(std::chrono::milliseconds(0), [self = shared_from_this()] {
        self->waiting_.store(false);
        self->s_.schedule(self);
      });
      running_.store(false);
      Fiber::park_current(parked_);  // (the task is still in its turn: nobody continues it yet)
      EXPECT_FALSE(running_.exchange(true)) << "a task ran on two workers at once";
      EXPECT_TRUE(Scheduler::in_turn());
      std::lock_guard lock(m_);
      threads_.insert(std::this_thread::get_id());
      ++continued_;
    }
    finished_.store(true);
    running_.store(false);
  }
  bool has_work() const override { return parked_ != nullptr && !waiting_.load(); }

  Scheduler& s_;
  std::unique_ptr<Fiber> parked_;
  std::atomic<bool> running_{false}, waiting_{false}, finished_{false};
  std::mutex m_;
  std::set<std::thread::id> threads_;
  int continued_ = 0;
};

TEST(Scheduler, ATurnThatWaitsKeepsItsFiberAndContinuesOnAnyWorker) {
  Scheduler s(2);
  std::vector<std::shared_ptr<WaitingTask>> waiting;
  for (int i = 0; i < 8; ++i) waiting.push_back(std::make_shared<WaitingTask>(s));
  auto busy = std::make_shared<CountingTask>();  // runs on while the others wait
  busy->pending = 100000;
  s.schedule(busy);
  for (auto& t : waiting) s.schedule(t);
  wait_until([&] {
    for (auto& t : waiting) {
      if (!t->finished_.load()) return false;
    }
    return busy->pending.load() == 0;
  });
  std::set<std::thread::id> threads;
  for (auto& t : waiting) {
    ASSERT_TRUE(t->finished_.load());
    std::lock_guard lock(t->m_);
    EXPECT_EQ(t->continued_, WaitingTask::kWaits);
    threads.insert(t->threads_.begin(), t->threads_.end());
  }
  EXPECT_EQ(busy->done.load(), 100000);
  EXPECT_EQ(threads.size(), 2u) << "waits continued on both workers";
  EXPECT_FALSE(Scheduler::in_turn());
}

TEST(Scheduler, TimersFireInOrderAndCanBeCancelled) {
  Scheduler s(1);
  std::mutex m;
  std::vector<int> fired;
  std::promise<void> last;
  s.after(std::chrono::milliseconds(30), [&] {
    std::lock_guard lock(m);
    fired.push_back(2);
    last.set_value();
  });
  s.after(std::chrono::milliseconds(10), [&] {
    std::lock_guard lock(m);
    fired.push_back(1);
  });
  auto cancelled = s.after(std::chrono::milliseconds(20), [&] {
    std::lock_guard lock(m);
    fired.push_back(99);
  });
  EXPECT_TRUE(s.cancel(cancelled));
  last.get_future().wait();
  std::lock_guard lock(m);
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

TEST(Mailbox, RefusesPastCapacityAndKeepsOrder) {
  Mailbox<int> box(3);
  EXPECT_TRUE(box.push(1));
  EXPECT_TRUE(box.push(2));
  EXPECT_TRUE(box.push(3));
  EXPECT_FALSE(box.push(4));
  EXPECT_TRUE(box.push(5, /*force=*/true));
  EXPECT_EQ(*box.pop(), 1);
  EXPECT_EQ(*box.pop(), 2);
  EXPECT_EQ(*box.pop(), 3);
  EXPECT_EQ(*box.pop(), 5);
  EXPECT_FALSE(box.pop());
}

// Four senders and the consumer at once, through a small bound: every accepted message arrives
// once, in each sender's order; refused ones are retried by their sender.
TEST(Mailbox, NoLossAndPerSenderOrderUnderConcurrentSendersAndConsumer) {
  constexpr int kSenders = 4, kEach = 50000;
  Mailbox<std::pair<int, int>> box(64);
  std::atomic<int> refused{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kEach; ++i) {
        while (!box.push({s, i})) {
          refused.fetch_add(1);
          std::this_thread::yield();
        }
      }
    });
  }
  std::vector<int> next(kSenders, 0);
  int count = 0;
  size_t max_size = 0;
  size_t unsettled = 0;
  while (count < kSenders * kEach) {
    max_size = std::max(max_size, box.size());
    auto item = box.pop();
    if (!item || unsettled == 16) {  // as an actor settles at the end of a turn
      box.settle(unsettled);
      unsettled = 0;
    }
    if (!item) continue;
    ++unsettled;
    EXPECT_EQ(item->second, next[static_cast<size_t>(item->first)]++) << "per-sender order broken";
    ++count;
  }
  for (auto& t : senders) t.join();
  EXPECT_FALSE(box.pop());
  box.settle(unsettled);
  EXPECT_EQ(box.size(), 0u);
  EXPECT_LE(max_size, 64u + kSenders);  // the bound holds (a refused push counts for a moment)
}

// What the consumer popped keeps its room in the bound until it settles.
TEST(Mailbox, PoppedMessagesCountUntilTheConsumerSettles) {
  Mailbox<int> box(2);
  EXPECT_TRUE(box.push(1));
  EXPECT_TRUE(box.push(2));
  EXPECT_EQ(*box.pop(), 1);
  EXPECT_EQ(box.size(), 2u);
  EXPECT_FALSE(box.push(3));
  box.settle(1);
  EXPECT_EQ(box.size(), 1u);
  EXPECT_TRUE(box.push(3));
  EXPECT_EQ(*box.pop(), 2);
  EXPECT_EQ(*box.pop(), 3);
  box.settle(2);
  EXPECT_TRUE(box.empty());
}

TEST(Mailbox, DrainTakesEverythingAndTheMailboxStaysUsable) {
  Mailbox<std::string> box(10);
  for (int i = 0; i < 5; ++i) box.push(std::to_string(i));
  auto all = box.drain();
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(all.front(), "0");
  EXPECT_TRUE(box.empty());
  EXPECT_TRUE(box.push("again"));
  EXPECT_EQ(*box.pop(), "again");
  EXPECT_FALSE(box.pop());
}

}  // namespace theater

namespace theater {

namespace {
// A task whose turn runs a function (once per schedule), recording the thread.
class CallbackTask : public Task {
 public:
  explicit CallbackTask(std::function<void()> fn = {}) : fn_(std::move(fn)) {}
  void run_turn() override {
    thread = std::this_thread::get_id();
    if (fn_) fn_();
    turns.fetch_add(1);
  }
  bool has_work() const override { return false; }
  std::atomic<int> turns{0};
  std::atomic<std::thread::id> thread{};

 private:
  std::function<void()> fn_;
};
}  // namespace

// A RunHere on a thread that is not a worker (a cluster node's NATS thread) runs the turn of the
// first task scheduled in its scope on this thread, at run(); the rest goes to the workers.
TEST(SchedulerRunHere, TheFirstTaskScheduledRunsOnThisThreadTheRestOnWorkers) {
  Scheduler s(1);
  auto first = std::make_shared<CountingTask>();
  auto second = std::make_shared<CountingTask>();
  {
    Scheduler::RunHere here(s);
    first->pending.store(3);
    s.schedule(first);
    second->pending.store(3);
    s.schedule(second);
    EXPECT_EQ(first->done.load(), 0) << "kept until run()";
    here.run();
    EXPECT_EQ(first->done.load(), 3) << "its turn ran during run()";
  }
  EXPECT_EQ(first->threads, std::set<std::thread::id>{std::this_thread::get_id()});
  wait_until([&] { return second->done.load() == 3 && !second->running.load(); });  // its turn is over
  ASSERT_EQ(second->done.load(), 3);
  std::lock_guard lock(second->m);
  EXPECT_EQ(second->threads.count(std::this_thread::get_id()), 0u) << "the second went to a worker";
  EXPECT_EQ(s.stats().hosted_turns, 1u);
}

// What is left after the hosted turn (its budget ran out) and what that turn scheduled go to the
// workers; nothing stays with the thread.
TEST(SchedulerRunHere, WorkLeftAndWorkItSchedulesGoToTheWorkers) {
  Scheduler s(2);
  auto woken = std::make_shared<CallbackTask>();
  auto busy = std::make_shared<CountingTask>();
  auto waker = std::make_shared<CallbackTask>([&] { s.schedule(woken); });
  busy->pending.store(20);  // a turn does 8
  {
    Scheduler::RunHere here(s);
    s.schedule(busy);
  }  // the destructor runs it
  EXPECT_GE(busy->done.load(), 8);  // a worker may already be on the rest
  {
    Scheduler::RunHere here(s);
    s.schedule(waker);
  }
  EXPECT_EQ(waker->turns.load(), 1);
  EXPECT_EQ(waker->thread.load(), std::this_thread::get_id());
  wait_until([&] { return busy->done.load() == 20 && woken->turns.load() == 1; });
  EXPECT_EQ(busy->done.load(), 20);
  {
    std::lock_guard lock(busy->m);
    EXPECT_EQ(busy->done_by[std::this_thread::get_id()], 8) << "one turn here, the rest on workers";
  }
  ASSERT_EQ(woken->turns.load(), 1);
  EXPECT_NE(woken->thread.load(), std::this_thread::get_id());
}

// On a worker a RunHere does nothing: tasks are scheduled as usual (a turn never runs another
// turn inside itself).
TEST(SchedulerRunHere, OnAWorkerItKeepsNothing) {
  Scheduler s(1);
  auto inner = std::make_shared<CallbackTask>();
  std::atomic<int> inner_turns_at_run{-1};
  auto outer = std::make_shared<CallbackTask>([&] {
    Scheduler::RunHere here(s);
    s.schedule(inner);
    here.run();
    inner_turns_at_run = inner->turns.load();
  });
  s.schedule(outer);
  wait_until([&] { return inner->turns.load() == 1; });
  EXPECT_EQ(inner->turns.load(), 1);
  EXPECT_EQ(inner_turns_at_run.load(), 0);
  EXPECT_EQ(s.stats().hosted_turns, 0u);
}

}  // namespace theater

// ---- the watchdog ----------------------------------------------------------------------------

namespace theater {
namespace {

using namespace std::chrono_literals;

// An instance that only counts its interrupts (no code).
class InterruptCounter : public engine::Instance {
 public:
  ~InterruptCounter() override { leave_interrupt_slot(); }
  bool has_function(std::string_view) const override { return false; }
  std::optional<engine::Trap> call(std::string_view, std::span<const uint64_t>, std::span<uint64_t>) override {
    return engine::Trap{engine::TrapKind::Host, "no code"};
  }
  std::span<uint8_t> memory() override { return {}; }
  std::optional<uint32_t> grow_memory(uint32_t) override { return std::nullopt; }
  uint32_t declared_max_pages() const override { return 0; }
  void set_fuel(int32_t) override {}
  void interrupt() override { interrupts.fetch_add(1); }
  std::atomic<int> interrupts{0};
};

// A turn that names its instance in the worker's slot and runs until it is interrupted (code that
// spends no fuel), or that finishes at once.
TEST(SchedulerWatchdog, InterruptsATurnThatRunsPastATickAndNoOther) {
  Scheduler s(2);
  auto runner = std::make_shared<InterruptCounter>();
  auto quick = std::make_shared<InterruptCounter>();
  const auto started = std::chrono::steady_clock::now();
  std::promise<std::chrono::steady_clock::duration> interrupted_after;
  auto long_turn = std::make_shared<CallbackTask>([&] {
    auto* slot = s.interrupt_slot();
    ASSERT_NE(slot, nullptr);
    slot->publish(runner.get());
    while (runner->interrupts.load() == 0) std::this_thread::yield();
    slot->unpublish();
    interrupted_after.set_value(std::chrono::steady_clock::now() - started);
  });
  std::atomic<int> quick_turns{0};
  auto short_turn = [&] {
    s.interrupt_slot()->publish(quick.get());
    s.interrupt_slot()->unpublish();
    quick_turns.fetch_add(1);
  };
  s.schedule(long_turn);
  auto done = interrupted_after.get_future();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready) << "never interrupted";
  // At least a tick, at most about two (a slow machine: far fewer than 5 s).
  EXPECT_GE(done.get(), Scheduler::kWatchdogTick);
  EXPECT_EQ(runner->interrupts.load(), 1) << "the turn ended at its first interrupt";
  for (int i = 0; i < 50; ++i) {
    // A task of its own each time: one that has just counted may not have ended its turn yet,
    // and scheduling it again then would be a no-op (it is still queued, and has no work).
    s.schedule(std::make_shared<CallbackTask>(short_turn));
    wait_until([&] { return quick_turns.load() == i + 1; });
  }
  EXPECT_EQ(quick_turns.load(), 50);
  EXPECT_EQ(quick->interrupts.load(), 0) << "short turns are never interrupted";
  EXPECT_EQ(s.interrupt_slot(), nullptr) << "not a worker: no slot";
}

// Not a worker, but a thread that hosts a turn (RunHere) is watched too.
TEST(SchedulerWatchdog, WatchesAHostedTurn) {
  Scheduler s(1);
  InterruptCounter runner;
  auto task = std::make_shared<CallbackTask>([&] {
    s.interrupt_slot()->publish(&runner);
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (runner.interrupts.load() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    s.interrupt_slot()->unpublish();
  });
  Scheduler::RunHere here(s);
  s.schedule(task);
  here.run();  // returns once interrupted (or after 5 s: a failure)
  EXPECT_EQ(runner.interrupts.load(), 1);
  EXPECT_EQ(task->thread.load(), std::this_thread::get_id());
}

// An idle scheduler's watchdog stops ticking after kWatchdogIdleTicks, and a turn that runs past
// a tick after that, on a worker or hosted, is still interrupted: a worker that wakes, or a
// thread about to host a turn, wakes the watchdog.
TEST(SchedulerWatchdog, SleepsWhileIdleAndStillInterruptsTheNextLongTurn) {
  Scheduler s(2);
  const auto idle_long_enough = Scheduler::kWatchdogTick * (Scheduler::kWatchdogIdleTicks + 40);
  auto ticks_while_idle = [&] {
    std::this_thread::sleep_for(idle_long_enough);  // asleep by now
    const uint64_t before = s.stats().watchdog_ticks;
    std::this_thread::sleep_for(Scheduler::kWatchdogTick * 40);
    return s.stats().watchdog_ticks - before;
  };
  EXPECT_LE(ticks_while_idle(), 1u) << "the watchdog ticked on while nothing ran";
  InterruptCounter runner;
  auto long_turn = [&] {
    s.interrupt_slot()->publish(&runner);
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (runner.interrupts.load() == 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    s.interrupt_slot()->unpublish();
  };
  auto on_worker = std::make_shared<CallbackTask>(long_turn);
  s.schedule(on_worker);
  wait_until([&] { return on_worker->turns.load() == 1; });
  EXPECT_EQ(runner.interrupts.load(), 1) << "a worker's turn after the watchdog slept";
  EXPECT_LE(ticks_while_idle(), 1u) << "asleep again";
  runner.interrupts.store(0);
  auto hosted = std::make_shared<CallbackTask>(long_turn);
  {
    Scheduler::RunHere here(s);
    s.schedule(hosted);
  }  // runs the turn here, while every worker is parked
  EXPECT_EQ(hosted->thread.load(), std::this_thread::get_id());
  EXPECT_EQ(runner.interrupts.load(), 1) << "a hosted turn after the watchdog slept";
}

// An instance destroyed while it is named in a slot leaves it: the watchdog, which keeps
// interrupting that long turn, never reaches it (AddressSanitizer and ThreadSanitizer check).
TEST(SchedulerWatchdog, AnInstanceDestroyedWhilePublishedIsNeverInterrupted) {
  Scheduler s(1);
  std::atomic<bool> stop{false};
  auto task = std::make_shared<CallbackTask>([&] {
    while (!stop.load()) {
      auto instance = std::make_unique<InterruptCounter>();
      s.interrupt_slot()->publish(instance.get());
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      instance.reset();  // destroyed while named
    }
  });
  s.schedule(task);
  std::this_thread::sleep_for(Scheduler::kWatchdogTick * 8);
  stop.store(true);
  wait_until([&] { return task->turns.load() == 1; });
}

}  // namespace
}  // namespace theater
