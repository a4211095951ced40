#pragma once
// M:N scheduling: a pool of worker threads runs tasks (actors) that have work. A task is in a run
// queue at most once and runs on at most one worker at a time (its `queued` flag), and may move
// between workers from turn to turn. Timers fire callbacks on the timer thread.
//
// Each worker has its own run queue plus a `next` slot. A task scheduled by a worker (an actor
// sending to another) goes into that worker's `next` slot, so a message exchange runs back to back
// on one warm core without waking anyone; the task it displaces goes to the worker's queue, where
// idle workers steal half of it. Tasks scheduled from outside (timers, the CLI, other threads) go
// to a shared injection queue. A worker with nothing to do parks; it is woken only when a queue
// holds work that nobody is about to run.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/small_mutex.hpp"
#include "engine/interrupt.hpp"

namespace theater {

class Task {
 public:
  virtual ~Task() = default;
  // One turn: handle a bounded number of messages, then return.
  virtual void run_turn() = 0;
  // True if the task still has work after its turn (it is then queued again).
  virtual bool has_work() const = 0;

 private:
  friend class Scheduler;
  std::atomic<bool> queued_{false};
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = uint64_t;

  explicit Scheduler(unsigned workers = 0);  // 0 = one per core
  ~Scheduler();

  // Queues the task unless it is queued or running already (then it runs again if it has work).
  void schedule(const std::shared_ptr<Task>& task);
  // The same for a task that owns itself (enable_shared_from_this): the shared pointer is made
  // only when the task does get queued, not for every message to a busy one.
  // A message to a busy task costs a load, not a locked exchange on a line its worker is using:
  // the load is seq_cst, as are the mailbox's count and the worker's clearing of the flag before
  // it looks at the count again (run), so either the sender sees the flag clear or the worker
  // sees the message.
  template <typename T>
  void schedule_self(T& task) {
    auto& queued = static_cast<Task&>(task).queued_;
    if (queued.load() || queued.exchange(true)) return;
    enqueue(task.shared_from_this());
  }
  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn);
  bool cancel(TimerId id);  // false if it already fired
  void shutdown();          // stops workers and the timer thread; pending tasks are dropped

  unsigned workers() const { return static_cast<unsigned>(workers_.size()); }
  // True inside a task's turn (on a worker, or on a RunHere thread).
  static bool in_turn();

  // Preemption of code that spends no fuel (instrument.hpp): a turn names the instance it is
  // running in its worker's slot, and a watchdog thread interrupts it once the same turn has run
  // for a whole tick (kWatchdogTick); the instance's fuel handler then decides, by the clock,
  // whether it yields, fails at its deadline or goes on. nullptr off the workers and RunHere
  // threads (nothing watches others). Ask again after a wait: the turn may have moved.
  static engine::InterruptSlot* interrupt_slot();  // (a RunHere thread's turn is watched too)
  static constexpr std::chrono::milliseconds kWatchdogTick{5};
  // Ticks with every worker parked and no turn hosted after which the watchdog sleeps until a
  // worker wakes (or a thread hosts a turn): an idle runtime does not wake 200 times a second.
  static constexpr unsigned kWatchdogIdleTicks = 20;

  // For a thread that is not a worker and delivers messages from elsewhere (a cluster node's NATS
  // thread): while a RunHere lives, the first task this thread schedules is kept instead of
  // queued, and run() (or the destructor) runs that task's turn here, on this thread. That saves
  // the hand-off to a worker, which may be parked, on the path of a request from another node.
  // What the turn schedules, and the task itself if it has work left, then go to the workers.
  class RunHere {
   public:
    explicit RunHere(Scheduler& scheduler);
    ~RunHere() { run(); }
    RunHere(const RunHere&) = delete;
    void run();

   private:
    Scheduler& scheduler_;
    bool active_;
  };

  struct Stats {
    uint64_t turns = 0, steals = 0, parks = 0;
    uint64_t hosted_turns = 0;  // turns run on a RunHere thread (also counted in turns)
    uint64_t watchdog_ticks = 0;  // times the watchdog looked (it sleeps while all is idle)
  };
  Stats stats() const;

 private:
  using TaskPtr = std::shared_ptr<Task>;
  struct Worker {
    // Taken by its owner twice a turn and by idle thieves: a one-atomic lock, not pthreads' call.
    SmallMutex mutex;
    std::deque<TaskPtr> queue;
    TaskPtr next;               // owner only
    unsigned next_streak = 0;   // owner only: turns taken from `next` in a row
    bool busy_task_requeued = false;  // owner only: the last turn's task had work left
    std::atomic<uint64_t> turn_seq{0};  // turns started + ended (odd: in a turn); thieves read it
    // Only this worker's thread writes turn_seq: a plain store, no locked add.
    void count_turn_edge() { turn_seq.store(turn_seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
    std::atomic<uint64_t> steals{0}, parks{0};
    Worker() : interrupt_slot(engine::InterruptSlot::acquire()) {}
    ~Worker() { engine::InterruptSlot::release(interrupt_slot); }
    engine::InterruptSlot* const interrupt_slot;  // the instance its turn is running
    unsigned index = 0;  // in workers_ (guests: none)
    // The task whose turn this worker is in (owner only). A turn that waits leaves it set: the
    // loop fiber the worker goes on with ends that turn (finish_turn).
    TaskPtr running;
    bool guest = false;  // a thread hosting a turn (RunHere), not a worker
    TaskPtr hosted;      // a guest's task, for its worker_loop to run
    std::thread thread;
  };

  void enqueue(TaskPtr task);  // (queued_ is set)
  // On this thread, as `self` (a worker, or a guest hosting a turn): worker_loop on loop fibers.
  void run_loop_as(Worker& self);
  void worker_loop();
  void finish_turn(Worker& self);
  TaskPtr find_work(Worker& self, uint64_t tick);
  TaskPtr steal(Worker& self);
  TaskPtr pop_injected();
  bool any_queued();
  void push_local(Worker& self, TaskPtr task);
  void wake_one();
  void run(Worker& self, TaskPtr task);
  void run_hosted(TaskPtr task);  // RunHere's turn (on a loop fiber of the calling thread)
  void timer_loop();
  void watchdog_loop();
  bool idle() const;     // every worker parked, no turn hosted
  void wake_watchdog();  // after a worker unparks or before a turn is hosted

  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<bool> stopping_{false};

  std::mutex inject_mutex_;
  std::deque<TaskPtr> injected_;
  std::atomic<size_t> injected_size_{0};

  std::mutex park_mutex_;
  std::condition_variable park_cv_;
  std::atomic<unsigned> parked_{0};
  std::atomic<uint64_t> hosted_turns_{0};

  std::mutex timer_mutex_;
  std::condition_variable timer_cv_;
  std::multimap<Clock::time_point, std::pair<TimerId, std::function<void()>>> timers_;
  TimerId next_timer_ = 1;
  bool timers_stopping_ = false;
  // When the timer thread wakes by itself: min() while it is awake, max() when it waits for a
  // first timer. A new timer wakes it only if it is due earlier than that (a request arms and
  // cancels one: without this, every request woke the timer thread twice).
  Clock::time_point timer_wakes_at_ = Clock::time_point::min();
  std::thread timer_thread_;

  // The stand-in workers of threads that hosted a turn (RunHere), one per thread.
  std::mutex guests_mutex_;
  std::map<std::thread::id, std::unique_ptr<Worker>> guests_;

  std::mutex watchdog_mutex_;
  std::condition_variable watchdog_cv_;
  bool watchdog_stopping_ = false;
  // The watchdog sleeps (no tick) while this is set: set by it, under watchdog_mutex_, once all
  // was idle for kWatchdogIdleTicks; cleared by wake_watchdog. seq_cst, as parked_ and hosting_:
  // either the watchdog sees a worker awake (and does not sleep) or the worker sees it asleep.
  std::atomic<bool> watchdog_asleep_{false};
  std::atomic<unsigned> hosting_{0};  // turns being hosted (RunHere) now
  std::atomic<uint64_t> watchdog_ticks_{0};
  std::thread watchdog_thread_;
};

}  // namespace theater
