#include "scheduler/scheduler.hpp"

#include <pthread.h>

namespace theater {

Scheduler::Scheduler(unsigned workers) {
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
  timer_thread_ = std::thread([this] { timer_loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::schedule(const std::shared_ptr<Task>& task) {
  if (task->queued_.exchange(true)) return;  // already queued or running: it will look again
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    ready_.push_back(task);
  }
  ready_cv_.notify_one();
}

void Scheduler::run(const std::shared_ptr<Task>& task) {
  task->run_turn();
  task->queued_.store(false);
  // Work that arrived during the turn found `queued_` set and did not queue the task: look now.
  if (task->has_work()) schedule(task);
}

void Scheduler::worker_loop() {
  for (;;) {
    std::shared_ptr<Task> task;
    {
      std::unique_lock lock(mutex_);
      ready_cv_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      task = std::move(ready_.front());
      ready_.pop_front();
    }
    run(task);
  }
}

Scheduler::TimerId Scheduler::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  std::lock_guard lock(timer_mutex_);
  TimerId id = next_timer_++;
  timers_.emplace(Clock::now() + delay, std::make_pair(id, std::move(fn)));
  timer_cv_.notify_one();
  return id;
}

bool Scheduler::cancel(TimerId id) {
  std::lock_guard lock(timer_mutex_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return true;
    }
  }
  return false;
}

void Scheduler::timer_loop() {
  std::unique_lock lock(timer_mutex_);
  while (!timers_stopping_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    auto first = timers_.begin();
    if (const auto when = first->first; when > Clock::now()) {
      // A copy: the entry may be cancelled (erased) while we wait.
      timer_cv_.wait_until(lock, when);
      continue;
    }
    auto fn = std::move(first->second.second);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

void Scheduler::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    ready_.clear();
  }
  ready_cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  {
    std::lock_guard lock(timer_mutex_);
    timers_stopping_ = true;
    timers_.clear();
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
}

}  // namespace theater
