#pragma once
// Process-wide counters of the runtime's hot path, read by the server's /metrics: messages
// delivered and handled, mailboxes found full, and the handler latency histogram. Each counter is
// sharded by thread (one cache line per shard) so that workers on different cores never write
// the same line; reading sums the shards.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace theater {

inline constexpr size_t kCounterShards = 16;
inline constexpr uint8_t kSharedShard = kCounterShards - 1;  // owned by none: atomic adds only

// This thread's shard. While fewer than kCounterShards threads count at once, each has a shard
// of its own and is its only writer: it adds with a plain load and store. A locked add would
// cost more than its own ~20 cycles: it waits for every store the thread has pending, such as a
// message just written into a node whose cache line another core holds. Threads past that
// share the last shard, which nobody owns, and add atomically (a plain store of an owner would
// lose their adds). A thread's shard is given back when it ends.
//
// The slot is a constant-initialised thread_local, read without the guard and the call that a
// thread_local with a constructor costs at every use (twice per message); the first use on a
// thread claims a shard (claim), and only then is an object with a destructor made.
class CounterShard {
 public:
  static const CounterShard& current();
  size_t index() const { return index_; }
  bool exclusive() const { return exclusive_; }

 private:
  friend struct CounterShardRelease;
  [[gnu::noinline]] static inline void claim();  // (inline: defined in this header)
  struct Registry {
    std::mutex mutex;
    std::array<bool, kCounterShards> used{};  // (the shared shard's entry stays false)
  };
  static Registry& registry() {
    // Never destroyed: a thread may end (~CounterShardRelease) after static destructors have run.
    static Registry* r = new Registry;
    return *r;
  }
  uint8_t index_ = 0;
  bool exclusive_ = false;
  bool claimed_ = false;
};

inline constinit thread_local CounterShard t_counter_shard{};

inline const CounterShard& CounterShard::current() {
  if (!t_counter_shard.claimed_) [[unlikely]] claim();
  return t_counter_shard;
}

// Gives the thread's shard back when the thread ends.
struct CounterShardRelease {
  ~CounterShardRelease() {
    CounterShard& slot = t_counter_shard;
    if (!slot.exclusive_) return;
    std::lock_guard lock(CounterShard::registry().mutex);
    CounterShard::registry().used[slot.index_] = false;
    // A later add on this thread (another destructor) goes to the shared shard, atomically.
    slot.exclusive_ = false;
    slot.index_ = kSharedShard;
  }
};

void CounterShard::claim() {
  thread_local CounterShardRelease release;
  (void)release;
  std::lock_guard lock(registry().mutex);
  CounterShard& slot = t_counter_shard;
  slot.claimed_ = true;
  auto& used = registry().used;
  for (size_t i = 0; i < kSharedShard; ++i) {
    if (!used[i]) {
      used[i] = true;
      slot.index_ = static_cast<uint8_t>(i);
      slot.exclusive_ = true;
      return;
    }
  }
  slot.index_ = kSharedShard;
}

// Adds n to a shard's cell: plainly for its only writer, else atomically.
inline void add_to_shard(std::atomic<uint64_t>& cell, uint64_t n, const CounterShard& shard) {
  if (shard.exclusive()) {
    cell.store(cell.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  } else {
    cell.fetch_add(n, std::memory_order_relaxed);
  }
}

class ShardedCounter {
 public:
  void add(uint64_t n = 1) {
    const auto& shard = CounterShard::current();
    add_to_shard(shards_[shard.index()].v, n, shard);
  }
  uint64_t value() const {
    uint64_t sum = 0;
    for (const auto& s : shards_) sum += s.v.load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> v{0};
  };
  std::array<Shard, kCounterShards> shards_;
};

// Prometheus-style histogram of durations (upper bounds in seconds; the last bucket is +Inf).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                     0.0025,  0.005,   0.01,   0.025,   0.05,   0.1,
                                                     0.25,    1,       5,      30};
  void observe(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    size_t b = 0;
    while (b < kBounds.size() && s > kBounds[b]) ++b;
    const auto& shard = CounterShard::current();
    Shard& sh = shards_[shard.index()];
    add_to_shard(sh.buckets[b], 1, shard);
    add_to_shard(sh.sum_ns, static_cast<uint64_t>(d.count()), shard);
  }
  struct Snapshot {
    std::array<uint64_t, kBounds.size() + 1> counts{};  // per bucket, not cumulative
    uint64_t total = 0;
    double sum_seconds = 0;
  };
  Snapshot snapshot() const {
    Snapshot out;
    uint64_t sum_ns = 0;
    for (const auto& sh : shards_) {
      for (size_t b = 0; b < out.counts.size(); ++b) out.counts[b] += sh.buckets[b].load(std::memory_order_relaxed);
      sum_ns += sh.sum_ns.load(std::memory_order_relaxed);
    }
    for (auto c : out.counts) out.total += c;
    out.sum_seconds = static_cast<double>(sum_ns) / 1e9;
    return out;
  }

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets{};
    std::atomic<uint64_t> sum_ns{0};
  };
  std::array<Shard, kCounterShards> shards_;
};

struct RuntimeCounters {
  ShardedCounter messages_sent;     // accepted into a mailbox (sends, requests, timers, channels)
  ShardedCounter messages_refused;  // refused: mailbox full (EFULL)
  ShardedCounter messages_handled;  // a handler ran for it (successfully or not)
  ShardedCounter drain_waits;       // a sender waited for its receiver's backlog (Actor::after_send)
  ShardedCounter drain_wakes;       // ... and its receiver woke it (the rest: its timer, or a stop)
  LatencyHistogram handler_latency;
};

inline RuntimeCounters& runtime_counters() {
  static RuntimeCounters counters;
  return counters;
}

}  // namespace theater
