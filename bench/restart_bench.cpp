// Restart latency: an actor fails on a message; how long until its restarted instance handles
// the next message? Printed beside the same measurement on Erlang/OTP (bench/erlang/restart, a
// gen_server under a supervisor), when escript is installed.
//
//   build/bench/theater_restart_bench [--restarts N] [--engine aot|interp|both] [--no-erlang]
//
// The actor is the sv_node test actor (tests/actors/sv_node.c), a child of another sv_node whose
// intensity never runs out. On "fail_timed" it reads the monotonic clock (WASI clock_time_get:
// CLOCK_MONOTONIC, as steady_clock here) and fails with "t0=<ns>" as its message; the request
// "clock", sent right behind it, is the next message: the restarted instance answers with the
// clock again (t1). Also measured: t0 to the "restarted" event (the new instance's theater_init
// has returned). Median and p99 over N restarts (default 10000) after 200 unmeasured ones.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "base/process.hpp"

using namespace theater;
using namespace std::chrono_literals;

namespace {

constexpr int kWarmup = 200;

struct Stats {
  double median = 0, p99 = 0;
};

Stats stats(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return {at(0.5), at(0.99)};
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Latencies {
  Stats restarted, next;
};

Latencies measure(engine::Tier tier, int restarts) {
  RuntimeConfig config;
  config.engine.tier = tier;
  Runtime runtime(config);
  std::mutex mutex;
  int64_t t0 = 0, t_restarted = 0;
  runtime.observe([&](const Event& e) {
    if (e.name != "crasher") return;
    if (e.type == "failed") {
      const auto at = e.detail.find("t0=");
      std::lock_guard lock(mutex);
      if (at != std::string::npos) t0 = std::stoll(e.detail.substr(at + 3));
    } else if (e.type == "restarted") {
      const int64_t t = now_ns();
      std::lock_guard lock(mutex);
      t_restarted = t;
    }
  });
  auto sup = load_manifest(std::filesystem::path(THEATER_EXAMPLES_DIR) / "sv_node.toml");
  sup.name = "sup";
  sup.supervision.max_restarts = 1000000000;
  sup.supervision.within_ms = 1000;
  auto crasher = sup;
  crasher.name = "crasher";
  const auto parent = runtime.spawn(sup);
  const auto id = runtime.spawn(crasher, std::nullopt, parent);

  std::vector<double> to_restarted, to_next;
  for (int i = 0; i < kWarmup + restarts; ++i) {
    if (runtime.send(id, "fail_timed") != abi::kOk) throw std::runtime_error("send failed");
    auto r = runtime.request(id, "clock", 10s);  // queued behind the failure: the next message
    if (r.rc != abi::kOk) throw std::runtime_error(fmt::format("clock: {}", abi::rc_name(r.rc)));
    const int64_t t1 = std::stoll(r.reply);
    std::lock_guard lock(mutex);
    if (i < kWarmup) continue;
    to_restarted.push_back(static_cast<double>(t_restarted - t0) / 1000.0);
    to_next.push_back(static_cast<double>(t1 - t0) / 1000.0);
  }
  if (runtime.find(id)->restarts() != static_cast<uint32_t>(kWarmup + restarts)) {
    throw std::runtime_error("the actor was not restarted once per failure");
  }
  return {stats(to_restarted), stats(to_next)};
}

void row(const std::string& who, const std::string& what, Stats s) {
  std::printf("%-30s %-34s %10.2f %10.2f\n", who.c_str(), what.c_str(), s.median, s.p99);
}

}  // namespace

int main(int argc, char** argv) {
  int restarts = 10000;
  std::string engine = "both";
  bool erlang = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--restarts" && i + 1 < argc) {
      restarts = std::stoi(argv[++i]);
    } else if (a == "--engine" && i + 1 < argc) {
      engine = argv[++i];
    } else if (a == "--no-erlang") {
      erlang = false;
    } else {
      std::fprintf(stderr, "usage: %s [--restarts N] [--engine aot|interp|both] [--no-erlang]\n", argv[0]);
      return 2;
    }
  }
  std::printf("restart latency, from the failure (clock read in the failing handler), %d restarts, in us\n", restarts);
  std::printf("%-30s %-34s %10s %10s\n", "", "", "median", "p99");
  try {
    for (auto [name, tier] : {std::pair{"aot", engine::Tier::Aot}, std::pair{"interp", engine::Tier::Interp}}) {
      if (engine != "both" && engine != name) continue;
      const auto l = measure(tier, restarts);
      const std::string who = fmt::format("Theater ({})", name == std::string("aot") ? "AOT" : "interpreter");
      row(who, "failure -> restarted (init done)", l.restarted);
      row(who, "failure -> next message handled", l.next);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "theater_restart_bench: %s\n", e.what());
    return 1;
  }
  if (!erlang) return 0;
  const std::string escript = find_program("escript");
  if (escript.empty()) {
    std::printf("(Erlang/OTP: escript not found; install erlang-base to compare)\n");
    return 0;
  }
  const auto script = std::filesystem::path(THEATER_SOURCE_DIR) / "bench" / "erlang" / "restart";
  const auto out = run_process({escript, script.string(), std::to_string(restarts), "--json"});
  const auto brace = out.output.find('{');
  if (out.exit_code != 0 || brace == std::string::npos) {
    std::fprintf(stderr, "bench/erlang/restart failed:\n%s\n", out.output.c_str());
    return 1;
  }
  const auto j = nlohmann::json::parse(out.output.substr(brace));
  row("Erlang/OTP (gen_server)", "failure -> restarted (init)", {j["init_median_us"], j["init_p99_us"]});
  row("Erlang/OTP (gen_server)", "failure -> next message handled", {j["next_median_us"], j["next_p99_us"]});
  return 0;
}
