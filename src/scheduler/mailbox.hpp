#pragma once
// A bounded multi-producer mailbox. Messages from one sender arrive in the order sent (one lock
// orders all pushes), and a full mailbox refuses instead of growing: the sender gets EFULL.
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

namespace theater {

template <typename T>
class Mailbox {
 public:
  explicit Mailbox(size_t capacity) : capacity_(capacity) {}

  // False when full. `force` bypasses the bound (system use: restart keeps what is queued).
  bool push(T item, bool force = false) {
    std::lock_guard lock(mutex_);
    if (!force && items_.size() >= capacity_) return false;
    items_.push_back(std::move(item));
    return true;
  }
  std::optional<T> pop() {
    std::lock_guard lock(mutex_);
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  bool empty() const { return size() == 0; }
  void set_capacity(size_t capacity) {
    std::lock_guard lock(mutex_);
    capacity_ = capacity;
  }
  // Removes everything (for a stopped actor); returns what was there.
  std::deque<T> drain() {
    std::lock_guard lock(mutex_);
    return std::exchange(items_, {});
  }

 private:
  mutable std::mutex mutex_;
  std::deque<T> items_;
  size_t capacity_;
};

}  // namespace theater
