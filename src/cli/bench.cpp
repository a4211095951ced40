// theater bench [WORKLOAD...]: Savina-style actor benchmarks with wasm actors (bench/actors),
// the Theater side of bench/compare. Prints a table, or with --json one line per workload:
//   {"workload": "ping-pong", "value": 0.61, "unit": "us/roundtrip", ...}
// A workload that computes a wrong result (or gets stuck) is reported on stderr, left out of
// the JSON, and makes the exit status 1.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/bench_workloads.hpp"
#include "cli/commands.hpp"

namespace theater::cli {

namespace {

struct BenchOptions {
  std::vector<std::string> workloads;
  bool json = false;
  bool verbose = false;
  unsigned workers = 0;
  std::string engine = "aot";
  double scale = 1.0;
  unsigned stuck_s = 300;
};

int run_bench(const BenchOptions& o) {
  std::vector<const bench::Workload*> selected;
  for (const auto& name : o.workloads) {
    const auto* w = bench::find_workload(name);
    if (!w) {
      std::string names;
      for (const auto& known : bench::workloads()) names += fmt::format(" {}", known.name);
      fmt::print(stderr, "theater bench: unknown workload '{}' (known:{})\n", name, names);
      return 2;
    }
    selected.push_back(w);
  }
  if (selected.empty()) {
    for (const auto& w : bench::workloads()) selected.push_back(&w);
  }
  const bool progress = o.verbose || ::isatty(2);
  bench::Options options;
  options.workers = o.workers;
  options.tier = o.engine == "interp" ? engine::Tier::Interp : engine::Tier::Aot;
  options.scale = o.scale;
  options.stuck = std::chrono::seconds(o.stuck_s);
  if (o.verbose) options.note = [](const std::string& text) { fmt::print(stderr, "  {}\n", text); };

  // The memory workloads first: the message floods of the others leave memory in the allocators.
  std::vector<const bench::Workload*> order;
  std::copy_if(selected.begin(), selected.end(), std::back_inserter(order), [](auto* w) { return w->measures_memory; });
  std::copy_if(selected.begin(), selected.end(), std::back_inserter(order), [](auto* w) { return !w->measures_memory; });

  std::vector<bench::Result> results(selected.size());
  bool failed = false;
  for (const auto* w : order) {
    if (progress) fmt::print(stderr, "theater bench: running {}\n", w->name);
    auto r = bench::run(*w, options);
    if (r.error) {
      failed = true;
      fmt::print(stderr, "theater bench: {}: FAILED: {}\n", w->name, *r.error);
    } else if (o.verbose) {
      fmt::print(stderr, "  {} {} ({})\n", bench::format_value(r.value), r.unit, bench::format_params(r.params));
    }
    // Printed in the order asked for.
    results[std::find(selected.begin(), selected.end(), w) - selected.begin()] = std::move(r);
  }

  if (o.json) {
    for (const auto& r : results) {
      if (!r.error) std::cout << bench::json_line(r, options) << "\n";
    }
  } else {
    fmt::print("{:<18} {:>14}  {:<13} {}\n", "workload", "value", "unit", "params");
    for (const auto& r : results) {
      fmt::print("{:<18} {:>14}  {:<13} {}\n", r.workload, r.error ? "FAILED" : bench::format_value(r.value),
                 r.unit, bench::format_params(r.params));
    }
    if (!results.empty()) {
      fmt::print("({} engine, {} workers, scale {})\n", results.front().engine.empty() ? o.engine : results.front().engine,
                 results.front().workers, o.scale);
    }
  }
  std::cout.flush();
  return failed ? 1 : 0;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto opts = std::make_shared<BenchOptions>();
  std::string list;
  for (const auto& w : bench::workloads()) list += fmt::format("\n  {:<18} {} ({})", w.name, w.what, w.unit);
  auto* cmd = app.add_subcommand("bench", "Run the actor benchmarks (Savina-style workloads with wasm actors)");
  cmd->footer("Workloads (none given = all):" + list +
              "\nbench/compare runs these beside Erlang/OTP and CAF; see bench/README.md.");
  cmd->add_option("workloads", opts->workloads, "Workloads to run, in this order (default: all)");
  cmd->add_flag("--json", opts->json, "One JSON object per line: {\"workload\", \"value\", \"unit\", ...}");
  cmd->add_option("--workers", opts->workers, "Worker threads (default: one per core)");
  cmd->add_option("--engine", opts->engine, "aot (default) or interp")->check(CLI::IsMember({"aot", "interp"}));
  cmd->add_option("--scale", opts->scale,
                  "Multiply the counts (messages, rounds, hops, children, idle actors) by this; 0.01 for a quick run")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--stuck-after", opts->stuck_s, "Fail a workload that has not finished after this many seconds");
  cmd->add_flag("--verbose,-v", opts->verbose, "Progress and details (times, RSS) on stderr");
  cmd->callback([opts] { set_exit_code(run_bench(*opts)); });
}

}  // namespace theater::cli
