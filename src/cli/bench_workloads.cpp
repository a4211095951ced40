// The workloads of `theater bench` (see bench_workloads.hpp and bench/README.md). The driver is
// this process, outside the actor system: it spawns the actors, sends them their setup and start
// messages, and learns that a workload is over from its sink actor, which exits with the reports
// of the workload's actors once it has all of them (an "exited" event). The time measured runs
// from the start message to that exit. Afterwards the driver asks the actors (requests) what
// they counted, and checks it.
#include "cli/bench_workloads.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"

#ifndef THEATER_BENCH_ACTORS_DIR
#define THEATER_BENCH_ACTORS_DIR "bench/actors"
#endif

namespace theater::bench {

namespace {

using Clock = std::chrono::steady_clock;

// A workload computed something wrong, or could not finish.
struct Failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T>
void check(std::string_view what, const T& expected, const T& got) {
  if (!(expected == got)) throw Failed(fmt::format("wrong {}: expected {}, got {}", what, expected, got));
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

long long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

// A fresh runtime for one workload, and the driver's view of it: lifecycle events (exits,
// failures, hibernations) as they happen.
class Harness {
 public:
  explicit Harness(const Options& options)
      : options_(options),
        dir_(options.actors_dir.empty() ? default_actors_dir() : options.actors_dir) {
    RuntimeConfig config;
    config.workers = options.workers;
    config.engine.tier = options.tier;
    runtime_ = std::make_unique<Runtime>(config);
    runtime_->observe([this](const Event& e) { on_event(e); });
  }
  ~Harness() { runtime_.reset(); }  // stops every actor before the observer goes

  Runtime& runtime() { return *runtime_; }
  const Options& options() const { return options_; }

  long long scaled(long long base) const {
    return std::max(1LL, std::llround(static_cast<double>(base) * options_.scale));
  }

  void note(const std::string& text) const {
    if (options_.note) options_.note(text);
  }

  // Spawns bench/actors/<manifest>.toml as a top-level actor; returns once its init has run.
  std::string spawn(const std::string& manifest, Bytes init_state = {}) {
    auto it = manifests_.find(manifest);
    if (it == manifests_.end()) {
      it = manifests_.emplace(manifest, load_manifest(dir_ / (manifest + ".toml"))).first;
    }
    return runtime_->spawn(it->second, std::move(init_state));
  }

  void send(const std::string& to, Bytes message) {
    if (int32_t rc = runtime_->send(to, std::move(message)); rc != abi::kOk) {
      throw Failed(fmt::format("send to {} failed: {}", to, abi::rc_name(rc)));
    }
  }

  std::string request(const std::string& to, Bytes message) {
    auto r = runtime_->request(to, std::move(message), options_.stuck);
    if (r.rc != abi::kOk) throw Failed(fmt::format("request to {} failed: {}", to, abi::rc_name(r.rc)));
    return r.reply;
  }

  long long request_int(const std::string& to, Bytes message) {
    const std::string reply = request(to, std::move(message));
    try {
      return std::stoll(reply);
    } catch (const std::exception&) {
      throw Failed(fmt::format("request to {}: expected a number, got '{}'", to, reply));
    }
  }

  // Waits until sink actor `id` exits; returns its exit result. Any failure of any actor ends
  // the wait (the bench actors are temporary: a failed one would never report).
  std::string wait_exit(const std::string& id) {
    std::unique_lock lock(mutex_);
    wait_for(lock, [&] { return exits_.count(id) != 0; }, "the workload to finish");
    return exits_[id];
  }

  // Waits until `n` events of `type` have come from actors named `name`.
  void wait_events(const std::string& type, const std::string& name, size_t n) {
    std::unique_lock lock(mutex_);
    wait_for(lock, [&] { return counts_[{type, name}] >= n; },
             fmt::format("{} '{}' events from {}", n, type, name));
  }

  size_t events(const std::string& type, const std::string& name) {
    std::lock_guard lock(mutex_);
    return counts_[{type, name}];
  }

 private:
  void wait_for(std::unique_lock<std::mutex>& lock, const std::function<bool()>& done, const std::string& what) {
    const auto until = Clock::now() + options_.stuck;
    done_ = &done;
    struct Reset {
      const std::function<bool()>*& p;
      ~Reset() { p = nullptr; }
    } reset{done_};
    while (!done()) {
      if (failure_) throw Failed(*failure_);
      if (cv_.wait_until(lock, until) == std::cv_status::timeout && !done()) {
        throw Failed(fmt::format("stuck: waited {} s for {}", options_.stuck.count(), what));
      }
    }
  }

  // Wakes the waiter only when what it waits for has come (or a failure): a wake-up per event
  // would put the driver's context switches into what the workload measures (spawn).
  void on_event(const Event& e) {
    std::lock_guard lock(mutex_);
    ++counts_[{e.type, e.name}];
    if (e.type == "exited" && e.name == "sink") exits_[e.actor] = e.detail;  // (only sinks are waited for)
    if (e.type == "failed" && !failure_) failure_ = fmt::format("{} failed: {}", e.actor, e.detail);
    if (done_ && (failure_ || (*done_)())) cv_.notify_all();
  }

  const Options& options_;
  std::filesystem::path dir_;
  std::map<std::string, Manifest> manifests_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::string> exits_;
  std::map<std::pair<std::string, std::string>, size_t> counts_;
  std::optional<std::string> failure_;
  const std::function<bool()>* done_ = nullptr;  // what the driver waits for, while it waits
  std::unique_ptr<Runtime> runtime_;  // last: destroyed first, while the observer's state lives
};

namespace {

Result measured(double value, double seconds, std::vector<Param> params) {
  Result r;
  r.value = value;
  r.seconds = seconds;
  r.params = std::move(params);
  return r;
}

// Sends `start` to `to` and waits for the sink's exit: the seconds it took and the sink's lines.
std::pair<double, std::vector<std::string>> timed_until_sink(Harness& h, const std::string& sink,
                                                             const std::string& to, Bytes start) {
  const auto t0 = Clock::now();
  h.send(to, std::move(start));
  const std::string reports = h.wait_exit(sink);
  const double seconds = seconds_since(t0);
  h.note(fmt::format("{:.3f} s", seconds));
  return {seconds, lines_of(reports)};
}

// ---- the workloads -----------------------------------------------------------------------------

// ping-pong and request: a caller makes n round trips to a responder that numbers its answers.
// In ping-pong both sides send (pinger); in request the caller waits for each reply (requester).
Result round_trips(Harness& h, const char* caller_manifest, const char* param) {
  const long long n = h.scaled(100'000);
  auto sink = h.spawn("sink", "1");
  auto caller = h.spawn(caller_manifest, sink);
  auto responder = h.spawn("responder");
  h.send(responder, "peer " + caller);  // where its sends go (ping-pong)
  h.send(caller, "peer " + responder);
  auto [seconds, lines] = timed_until_sink(h, sink, caller, fmt::format("go {}", n));
  check("report (replies in order)", std::vector<std::string>{fmt::format("done {}", n)}, lines);
  check("pings answered", n, h.request_int(responder, "count"));
  return measured(seconds * 1e6 / n, seconds, {{param, n}});
}

Result ping_pong(Harness& h) { return round_trips(h, "pinger", "rounds"); }
Result request(Harness& h) { return round_trips(h, "requester", "requests"); }

// One producer sends n messages to a tally, then asks it for the total.
Result counting(Harness& h) {
  const long long n = h.scaled(1'000'000);
  auto sink = h.spawn("sink", "1");
  auto tally = h.spawn("tally");
  auto producer = h.spawn("producer", sink);
  h.send(producer, "peer " + tally);
  auto [seconds, lines] = timed_until_sink(h, sink, producer, fmt::format("go {}", n));
  check("report", std::vector<std::string>{fmt::format("done {}", n)}, lines);
  return measured(n / seconds, seconds, {{"messages", n}});
}

// A token holding the hops left goes round a ring of actors.
Result thread_ring(Harness& h) {
  const long long actors = 100, hops = h.scaled(1'000'000);
  auto sink = h.spawn("sink", "1");
  std::vector<std::string> nodes;
  for (long long i = 0; i < actors; ++i) nodes.push_back(h.spawn("ring_node", sink));
  for (size_t i = 0; i < nodes.size(); ++i) h.send(nodes[i], "next " + nodes[(i + 1) % nodes.size()]);
  auto [seconds, lines] = timed_until_sink(h, sink, nodes[0], std::to_string(hops));
  check("report", std::vector<std::string>{"done"}, lines);
  long long forwarded = 0;
  for (const auto& node : nodes) forwarded += h.request_int(node, "count");
  check("hops", hops, forwarded);
  return measured(hops / seconds, seconds, {{"actors", actors}, {"hops", hops}});
}

uint32_t lcg(uint32_t x, long long iterations) {
  for (long long i = 0; i < iterations; ++i) x = x * 1103515245u + 12345u;
  return x;
}

// One sender sends n messages to each of 32 workers, round-robin; each costs 100 LCG rounds.
Result fork_join(Harness& h) {
  const long long workers = 32, per_worker = h.scaled(10'000);
  auto sink = h.spawn("sink", std::to_string(workers));
  std::string go = fmt::format("go {}", per_worker);
  for (long long i = 0; i < workers; ++i) go += " " + h.spawn("fj_worker", fmt::format("{} {}", per_worker, sink));
  auto sender = h.spawn("fj_sender");
  auto [seconds, lines] = timed_until_sink(h, sink, sender, go);
  // Every worker ran the generator the same number of times from the same seed.
  const std::string expected = fmt::format("done {}", lcg(1, per_worker * 100));
  check("worker results", std::vector<std::string>(workers, expected), lines);
  return measured(workers * per_worker / seconds, seconds,
                  {{"workers", workers}, {"messages_per_worker", per_worker}});
}

// 100 actors ping random peers, one ping outstanding each; every ping is answered.
Result big(Harness& h) {
  const long long actors = 100, pings = h.scaled(10'000);
  auto sink = h.spawn("sink", std::to_string(actors));
  std::vector<std::string> ids;
  std::string peers;
  for (long long i = 0; i < actors; ++i) {
    ids.push_back(h.spawn("big_actor", sink));
    peers += " " + ids.back();
  }
  const auto t0 = Clock::now();
  // Every peer table is in its mailbox before any actor starts: a ping can never reach an actor
  // that does not know its peers yet (one sender's messages arrive in order).
  for (long long i = 0; i < actors; ++i) h.send(ids[i], fmt::format("peers {} {}{}", i, pings, peers));
  for (const auto& id : ids) h.send(id, "go");
  const auto lines = lines_of(h.wait_exit(sink));
  const double seconds = seconds_since(t0);
  h.note(fmt::format("{:.3f} s", seconds));
  check("reports", std::vector<std::string>(actors, "done"), lines);
  long long answered = 0;
  for (const auto& id : ids) {
    const std::string stats = h.request(id, "stats");  // "<pongs> <answered>"
    long long pongs = -1, theirs = 0;
    if (std::sscanf(stats.c_str(), "%lld %lld", &pongs, &theirs) != 2) throw Failed("bad stats: " + stats);
    check("pongs of an actor", pings, pongs);
    answered += theirs;
  }
  check("pings answered", actors * pings, answered);
  return measured(2.0 * actors * pings / seconds, seconds, {{"actors", actors}, {"pings_per_actor", pings}});
}

// One actor spawns children one after another (the spawn import); each reports and exits.
Result spawn(Harness& h) {
  const long long children = h.scaled(10'000);
  auto sink = h.spawn("sink", "1");
  auto spawner = h.spawn("spawner", sink);
  auto [seconds, lines] = timed_until_sink(h, sink, spawner, fmt::format("go {}", children));
  check("report", std::vector<std::string>{fmt::format("done {}", children)}, lines);
  check("children exited", static_cast<size_t>(children), h.events("exited", "spawnee"));
  return measured(seconds * 1e6 / children, seconds, {{"children", children}});
}

// Resident memory growth per idle actor. malloc_trim first: memory that earlier work freed but
// the allocator kept would be reused by the new actors and hide them.
Result memory_of(Harness& h, const char* manifest, bool hibernated) {
  const long long actors = h.scaled(10'000);
  h.spawn(manifest);  // loads the module: a cost once per process, not per actor
  // A hibernated actor costs less than the one-time costs of the first thousands (each worker
  // thread's malloc arena, the node pools' caches: 1 to 2 MB), which would add 100 to 200 bytes
  // to each of 10,000. So a tenth as many go first, unmeasured: the figure is what each further
  // hibernated actor costs, as at a million of them. (Live actors cost 5 KB; Erlang's and CAF's
  // `memory` has no warm-up, so neither has Theater's.)
  const long long warmup = hibernated ? std::max(1LL, actors / 10) : 0;
  for (long long i = 0; i < warmup; ++i) h.spawn(manifest);
  const auto first = static_cast<size_t>(1 + warmup);
  if (hibernated) h.wait_events("hibernated", "idle", first);
  h.runtime().wait_idle(h.options().stuck);
  ::malloc_trim(0);
  // The benchmark's own list of the ids, outside the measurement: its strings are allocated
  // (and their pages touched) before it, large enough that an id fits without another.
  std::vector<std::string> ids(static_cast<size_t>(actors), std::string(64, '-'));
  const long long before = resident_bytes();
  const auto heap_before = ::mallinfo2().uordblks;
  for (auto& id : ids) id.assign(h.spawn(manifest));
  if (hibernated) h.wait_events("hibernated", "idle", first + static_cast<size_t>(actors));
  h.runtime().wait_idle(h.options().stuck);
  const long long after = resident_bytes();
  h.note(fmt::format("RSS {} -> {} bytes; malloc'd and in use: {} bytes per actor", before, after,
                     static_cast<long long>(::mallinfo2().uordblks - heap_before) / actors));
  if (hibernated) check("actors hibernated", first + static_cast<size_t>(actors), h.events("hibernated", "idle"));
  check("actors started", first + static_cast<size_t>(actors), h.events("started", "idle"));
  // They are alive and answer (a hibernated one resumes for it).
  for (size_t i = 0; i < ids.size(); i += std::max<size_t>(1, ids.size() / 10)) {
    h.send(ids[i], "hello");
    check("messages an idle actor got", 1LL, h.request_int(ids[i], "count"));
  }
  return measured(static_cast<double>(after - before) / actors, 0, {{"actors", actors}});
}

Result memory(Harness& h) { return memory_of(h, "idle", false); }
Result memory_hibernated(Harness& h) { return memory_of(h, "idle_hibernating", true); }

}  // namespace

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = {
      {"ping-pong", "us/roundtrip", "two actors bounce a message (plain sends), 100,000 round trips", ping_pong, false},
      {"counting", "msg/s", "a producer sends 1,000,000 messages to a counter, then asks for the total", counting, false},
      {"thread-ring", "msg/s", "100 actors in a ring pass a token 1,000,000 hops", thread_ring, false},
      {"fork-join", "msg/s", "a sender sends 10,000 messages to each of 32 workers (100 LCG rounds each)", fork_join, false},
      {"big", "msg/s", "100 actors ping random peers 10,000 times each; every ping is answered", big, false},
      {"spawn", "us/spawn", "an actor spawns 10,000 children one after another (each reports, then exits)", spawn, false},
      {"memory", "bytes/actor", "resident memory per live idle actor (10,000 of them)", memory, true},
      {"request", "us/request", "an actor makes 100,000 requests to another, waiting for each reply", request, false},
      {"memory-hibernated", "bytes/actor",
       "resident memory per hibernated actor (10,000 after 1,000 unmeasured, [limits] hibernate_after_ms)",
       memory_hibernated, true},
  };
  return all;
}

const Workload* find_workload(std::string_view name) {
  for (const auto& w : workloads()) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

Result run(const Workload& workload, const Options& options) {
  Result r;
  try {
    Harness h(options);
    r = workload.run(h);
    r.engine = engine::to_string(h.runtime().engine().tier());
    r.workers = h.runtime().scheduler().workers();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  r.workload = std::string(workload.name);
  r.unit = std::string(workload.unit);
  return r;
}

std::string format_value(double value) {
  if (std::abs(value) < 1000) return fmt::format("{:.3f}", value);
  std::string digits = fmt::format("{:.0f}", std::abs(value));
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::string format_params(const std::vector<Param>& params) {
  std::string out;
  for (const auto& p : params) out += fmt::format("{}{}={}", out.empty() ? "" : " ", p.name, p.value);
  return out;
}

std::string json_line(const Result& r, const Options& o) {
  // Rates are printed whole, latencies and sizes with three decimals (as the other runners do).
  const std::string value = std::abs(r.value) >= 1000 ? fmt::format("{:.0f}", r.value) : fmt::format("{:.3f}", r.value);
  std::string params;
  for (const auto& p : r.params) params += fmt::format("{}\"{}\": {}", params.empty() ? "" : ", ", p.name, p.value);
  return fmt::format(
      R"({{"workload": "{}", "value": {}, "unit": "{}", "params": {{{}}}, "seconds": {:.6f}, "engine": "{}", "workers": {}, "scale": {}}})",
      r.workload, value, r.unit, params, r.seconds, r.engine, r.workers, o.scale);
}

std::filesystem::path default_actors_dir() {
  if (const char* env = std::getenv("THEATER_BENCH_ACTORS"); env && *env) return env;
  return THEATER_BENCH_ACTORS_DIR;
}

}  // namespace theater::bench
