#pragma once
// What happened to an actor: lifecycle events (started, failed, restarted, stopped ...) and
// message traffic, kept per actor (bounded, newest last) and offered to observers as they happen.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/small_mutex.hpp"

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
// and name, which snapshot() puts back, and an empty log allocates nothing. compact() packs the
// entries into one byte string (an idle actor's log is read rarely, and added to only when it
// wakes, which unpacks it).
class EventLog {
 public:
  explicit EventLog(uint32_t keep = 1000) : keep_(keep) {}
  // Numbers the event (e.seq) and keeps it.
  void add(Event& e);
  // Oldest first, with `actor` and `name` filled in.
  std::vector<Event> snapshot(const std::string& actor, const std::string& name) const;
  // Packs the entries into one allocation (an actor going idle for long).
  void compact();

 private:
  struct Entry {
    uint64_t seq;
    int64_t time_ms;
    std::string type;  // short: no allocation
    std::string detail;
  };
  std::vector<Entry> unpacked() const;  // oldest first [lock]

  std::vector<Entry> entries_;  // a ring once full: `oldest_` is where the next one goes
  // compact()ed: the entries, oldest first, as [time_ms: 8][type length: 1][type]
  // [detail length: 4][detail]; seq numbers are consecutive, ending at next_ - 1.
  std::unique_ptr<char[]> packed_;
  uint64_t next_ = 1;
  uint32_t oldest_ = 0;
  uint32_t packed_count_ = 0;  // entries in packed_ (0: none)
  uint32_t keep_;
  mutable SmallMutex mutex_;  // (last: it fills the padding after keep_)
};

int64_t wall_ms();

}  // namespace theater
