#pragma once
// What happened to an actor: lifecycle events (started, failed, restarted, stopped ...) and
// message traffic, kept per actor (bounded, newest last) and offered to observers as they happen.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace theater {

struct Event {
  uint64_t seq = 0;
  int64_t time_ms = 0;  // wall clock, ms since the epoch
  std::string actor;    // id
  std::string name;     // manifest name
  std::string type;     // created | started | failed | decision | intensity | restarting |
                        // restarted | terminated (instance dropped by its supervisor, identity
                        // kept: a restart follows) | stopped | killed (past shutdown_timeout_ms
                        // while stopping) | exited | escalated | tree-stopped | hibernated |
                        // resumed | undeliverable | reply-dropped | spawn-refused | log
  std::string detail;   // human-readable
  std::string json() const;
};

class EventLog {
 public:
  explicit EventLog(size_t keep = 1000) : keep_(keep) {}
  void add(Event e) {
    std::lock_guard lock(mutex_);
    e.seq = next_++;
    events_.push_back(std::move(e));
    if (events_.size() > keep_) events_.pop_front();
  }
  std::vector<Event> snapshot() const {
    std::lock_guard lock(mutex_);
    return {events_.begin(), events_.end()};
  }

 private:
  mutable std::mutex mutex_;
  std::deque<Event> events_;
  uint64_t next_ = 1;
  size_t keep_;
};

int64_t wall_ms();

}  // namespace theater
