#pragma once
// What happened to an actor: lifecycle events (started, failed, restarted, stopped ...) and
// message traffic, kept per actor (bounded, newest last) and offered to observers as they happen.
#include <chrono>
#include <cstdint>
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

// One actor's recent events, the newest `keep` of them. Kept compact, since every actor has one
// (a hibernated actor is little more than this and its state): entries leave out the actor's id
// and name, which snapshot() puts back, and an empty log allocates nothing.
class EventLog {
 public:
  explicit EventLog(size_t keep = 1000) : keep_(keep) {}
  // Numbers the event (e.seq) and keeps it.
  void add(Event& e) {
    std::lock_guard lock(mutex_);
    e.seq = next_++;
    Entry entry{e.seq, e.time_ms, e.type, e.detail};
    if (entries_.size() < keep_) {
      entries_.push_back(std::move(entry));
    } else {  // full: a ring, `oldest_` is where the next one goes
      entries_[oldest_] = std::move(entry);
      oldest_ = (oldest_ + 1) % entries_.size();
    }
  }
  // Oldest first, with `actor` and `name` filled in.
  std::vector<Event> snapshot(const std::string& actor, const std::string& name) const {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    out.reserve(entries_.size());
    for (size_t i = 0; i < entries_.size(); ++i) {
      const Entry& x = entries_[(oldest_ + i) % entries_.size()];
      out.push_back(Event{x.seq, x.time_ms, actor, name, x.type, x.detail});
    }
    return out;
  }
  // Gives back spare capacity (an actor going idle for long).
  void compact() {
    std::lock_guard lock(mutex_);
    entries_.shrink_to_fit();
  }

 private:
  struct Entry {
    uint64_t seq;
    int64_t time_ms;
    std::string type;  // short: no allocation
    std::string detail;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  size_t oldest_ = 0;
  uint64_t next_ = 1;
  size_t keep_;
};

int64_t wall_ms();

}  // namespace theater
