#pragma once
// A mutex in one byte, for objects there are a million of (every actor has two: std::mutex is
// 40 bytes). Waiters sleep in the kernel (C++20 atomic wait: a futex on Linux), never spin long.
// For short critical sections with little contention; not recursive, no timed locking.
#include <atomic>

namespace theater {

class SmallMutex {
 public:
  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) locked_.wait(true, std::memory_order_relaxed);
  }
  bool try_lock() { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() {
    locked_.store(false, std::memory_order_release);
    locked_.notify_one();
  }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace theater
