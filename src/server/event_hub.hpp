#pragma once
// Every event the runtime reports, numbered in one sequence and kept in a bounded ring, so that
// any number of followers (SSE streams, the dashboard) read at their own pace without slowing
// the runtime: publishing only appends. A follower that falls behind the ring is told of the gap.
// The hub also keeps what metrics and `inspect` need from the events: counts of events by type,
// failures and restarts by kind, and each actor's start time.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actor/events.hpp"

namespace theater::server {

struct StreamFilter {
  std::string actor;            // "" = every actor
  std::set<std::string> types;  // empty = every type
  bool matches(const Event& e) const;
};

struct HubEvent {
  uint64_t id = 0;  // the hub's sequence (SSE id); Event::seq is the actor's own
  Event event;
};

class EventHub {
 public:
  explicit EventHub(size_t keep = 20000) : keep_(keep) {}

  void publish(Event e);  // any thread; quick
  // Events after `cursor` that match, at most `max`; waits up to `wait` when there are none yet.
  // Moves `cursor` past every event looked at (matching or not). *gap is set when some events
  // after `cursor` had already left the ring.
  std::vector<HubEvent> read(uint64_t& cursor, const StreamFilter& filter, size_t max,
                             std::chrono::milliseconds wait, bool* gap = nullptr);
  uint64_t last_id() const;
  void close();  // wakes every reader; streams end
  bool closed() const;

  // Open event streams, bounded: each one holds an HTTP worker thread.
  bool try_open_stream(size_t limit);
  void close_stream();
  size_t streams() const;

  // A restart asked for by a client (not a failure): labels the next "restarting" of `id`.
  void mark_manual_restart(const std::string& id);

  struct Stats {
    std::map<std::string, uint64_t> events_by_type, failures_by_kind, restarts_by_kind;
  };
  Stats stats() const;
  struct Times {
    int64_t created_ms = 0, started_ms = 0;  // wall clock; started = the last start or restart
  };
  std::optional<Times> times(const std::string& id) const;

 private:
  void account(const Event& e);  // under mutex_

  const size_t keep_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<HubEvent> ring_;
  uint64_t next_id_ = 1;
  bool closed_ = false;
  size_t streams_ = 0;
  Stats stats_;
  std::map<std::string, std::string> pending_restart_kind_;  // id -> why its next restart happens
  std::map<std::string, Times> times_;
};

}  // namespace theater::server
