#pragma once
// M:N scheduling: a pool of worker threads runs tasks (actors) that have work. A task is in the
// run queue at most once and runs on at most one worker at a time (its `queued` flag), and may
// move between workers from turn to turn. Timers fire callbacks on the timer thread.
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
  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn);
  bool cancel(TimerId id);  // false if it already fired
  void shutdown();          // stops workers and the timer thread; pending tasks are dropped

  unsigned workers() const { return static_cast<unsigned>(threads_.size()); }

 private:
  void worker_loop();
  void timer_loop();
  void run(const std::shared_ptr<Task>& task);

  std::mutex mutex_;
  std::condition_variable ready_cv_;
  std::deque<std::shared_ptr<Task>> ready_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;

  std::mutex timer_mutex_;
  std::condition_variable timer_cv_;
  std::multimap<Clock::time_point, std::pair<TimerId, std::function<void()>>> timers_;
  TimerId next_timer_ = 1;
  bool timers_stopping_ = false;
  std::thread timer_thread_;
};

}  // namespace theater
