// What the event chain and durable state cost (docs/state.md), in ns per event:
//  - Journal/*: one "received" event (a 16-byte message) as the actor's thread pays for it (hash
//    the bytes, queue the event), with the writer thread working behind it;
//  - Stored/*: the same, counted until the events are on disk (writer included: the sustained rate);
//  - Commit/sync: a state commit in sync durability, which waits for its fsync;
//  - Message/*: a counter actor handling "inc" sends end to end (2 events a message: received,
//    committed), without a data dir, with the chain in group commit, states only (no chain), and
//    sync (one fsync a message).
// Prints Google Benchmark's table with an ns_per_event (or ns_per_msg) column.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "actor/message.hpp"
#include "actor/runtime.hpp"
#include "state/store.hpp"

namespace {

using namespace theater;
namespace fs = std::filesystem;

fs::path fresh_dir(const char* what) {
  auto dir = fs::temp_directory_path() / fmt::format("theater-chain-bench-{}-{}", ::getpid(), what);
  fs::remove_all(dir);
  return dir;
}

// Three clocks, reported per item: the calling (actor) thread's CPU time, the whole process's CPU
// time (the writer thread and SQLite included), and the wall clock. On a busy machine the CPU
// times are the ones to read.
struct Clocks {
  static int64_t ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
  }
  int64_t thread0 = ns(CLOCK_THREAD_CPUTIME_ID), process0 = ns(CLOCK_PROCESS_CPUTIME_ID),
          wall0 = ns(CLOCK_MONOTONIC);
  void report(benchmark::State& st, int64_t items, const char* unit) const {
    const double n = static_cast<double>(std::max<int64_t>(items, 1));
    st.counters[fmt::format("thread_cpu_{}", unit)] = static_cast<double>(ns(CLOCK_THREAD_CPUTIME_ID) - thread0) / n;
    st.counters[fmt::format("cpu_{}", unit)] = static_cast<double>(ns(CLOCK_PROCESS_CPUTIME_ID) - process0) / n;
    st.counters[fmt::format("wall_{}", unit)] = static_cast<double>(ns(CLOCK_MONOTONIC) - wall0) / n;
  }
};

state::StoreOptions options(state::Durability d) {
  state::StoreOptions o;
  o.durability = d;
  return o;
}

Message sample_message() {
  Message m;
  m.from = "sender-0123456789ab";
  m.bytes = "inc 0123456789ab";  // 16 bytes
  return m;
}

// Queueing only (the writer works behind): what the actor's thread pays.
void BM_Journal(benchmark::State& st, state::Durability d) {
  const auto dir = fresh_dir("journal");
  {
    auto store = state::Store::open(dir, options(d));
    auto& j = store->journal("bench-0123456789ab");
    const Message m = sample_message();
    Clocks c;
    for (auto _ : st) j.received(m);
    c.report(st, st.iterations(), "ns_per_event");
  }
  fs::remove_all(dir);
}

// Until on disk: the sustained rate, writer included.
void BM_Stored(benchmark::State& st, state::Durability d) {
  const auto dir = fresh_dir("stored");
  constexpr int kBatch = 20000;
  {
    auto store = state::Store::open(dir, options(d));
    auto& j = store->journal("bench-0123456789ab");
    const Message m = sample_message();
    Clocks c;
    for (auto _ : st) {
      for (int i = 0; i < kBatch; ++i) j.received(m);
      store->flush();
    }
    c.report(st, st.iterations() * kBatch, "ns_per_event");
  }
  fs::remove_all(dir);
}

void BM_CommitSync(benchmark::State& st) {
  const auto dir = fresh_dir("commit");
  {
    auto store = state::Store::open(dir, options(state::Durability::Sync));
    auto& j = store->journal("bench-0123456789ab");
    Clocks c;
    for (auto _ : st) j.committed("12345");
    c.report(st, st.iterations(), "ns_per_event");
  }
  fs::remove_all(dir);
}

// mode: 0 no data dir, 1 group + chain, 2 group, states only, 3 sync + chain.
void BM_Message(benchmark::State& st) {
  const int mode = static_cast<int>(st.range(0));
  const int n = mode == 3 ? 200 : 20000;
  const auto dir = fresh_dir("message");
  {
    RuntimeConfig config;
    config.workers = 2;
    if (mode != 0) config.data_dir = dir;
    config.chain = mode != 2;
    config.store.durability = mode == 3 ? state::Durability::Sync : state::Durability::Group;
    Runtime rt(config);
    auto m = load_manifest(fs::path(THEATER_BUILD_DIR) / "examples/counter.toml");
    m.limits.mailbox = 1 << 20;
    const auto id = rt.spawn(m);
    Clocks c;
    for (auto _ : st) {
      for (int i = 0; i < n; ++i) rt.send(id, "inc");
      rt.request(id, "get");  // after every inc (one sender: in order)
      rt.wait_durable();
    }
    c.report(st, st.iterations() * n, "ns_per_msg");
  }
  fs::remove_all(dir);
}

BENCHMARK_CAPTURE(BM_Journal, group, state::Durability::Group);
BENCHMARK_CAPTURE(BM_Journal, sync, state::Durability::Sync);
BENCHMARK_CAPTURE(BM_Stored, group, state::Durability::Group)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Stored, sync, state::Durability::Sync)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CommitSync)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Message)
    ->ArgName("mode:0=off,1=chain,2=states,3=sync")
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Arg(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
