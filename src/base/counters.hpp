#pragma once
// Process-wide counters of the runtime's hot path, read by the server's /metrics: messages
// delivered and handled, mailboxes found full, and the handler latency histogram. Each counter is
// sharded by thread (one cache line per shard) so that workers on different cores never write
// the same line; reading sums the shards.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace theater {

inline constexpr size_t kCounterShards = 16;

inline size_t counter_shard() {
  static std::atomic<size_t> next{0};
  thread_local const size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kCounterShards;
  return shard;
}

class ShardedCounter {
 public:
  void add(uint64_t n = 1) { shards_[counter_shard()].v.fetch_add(n, std::memory_order_relaxed); }
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
    Shard& sh = shards_[counter_shard()];
    sh.buckets[b].fetch_add(1, std::memory_order_relaxed);
    sh.sum_ns.fetch_add(static_cast<uint64_t>(d.count()), std::memory_order_relaxed);
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
  LatencyHistogram handler_latency;
};

inline RuntimeCounters& runtime_counters() {
  static RuntimeCounters counters;
  return counters;
}

}  // namespace theater
