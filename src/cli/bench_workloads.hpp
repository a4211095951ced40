#pragma once
// The workloads of `theater bench`: Savina-style actor benchmarks run with wasm actors
// (bench/actors/*.c), with the parameters of bench/erlang/savina and bench/caf/savina.cpp so
// that bench/compare sets them side by side. Each workload runs in a fresh Runtime, checks what
// its actors computed (every message is counted) and reports one value in its unit.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.hpp"

namespace theater::bench {

class Harness;  // the runtime of one workload run, and the driver's view of it

struct Options {
  unsigned workers = 0;                   // 0: one per core
  engine::Tier tier = engine::Tier::Aot;
  double scale = 1.0;                     // multiplies the counts (not the actors of ring, big, fork-join)
  std::filesystem::path actors_dir;       // empty: default_actors_dir()
  std::chrono::seconds stuck{300};        // waiting longer than this for a result fails the workload
  std::function<void(const std::string&)> note;  // details as the workload runs (null: none)
};

struct Param {
  std::string name;
  long long value;
};

struct Result {
  std::string workload;
  std::string unit;
  double value = 0;
  double seconds = 0;  // the time measured (0 for the memory workloads)
  std::vector<Param> params;
  std::string engine;    // the tier that ran it: aot | interp
  unsigned workers = 0;  // worker threads
  std::optional<std::string> error;  // the workload failed: a wrong result, a stuck run, an error
};

struct Workload {
  std::string_view name;
  std::string_view unit;
  std::string_view what;  // one line for --help
  Result (*run)(Harness&);
  bool measures_memory;   // runs first (before message floods leave freed memory around)
};

// Every workload, in the order bench/compare lists them.
const std::vector<Workload>& workloads();
const Workload* find_workload(std::string_view name);

// Runs one workload. Never throws: a failure is in Result::error.
Result run(const Workload& workload, const Options& options);

// {"workload": "ping-pong", "value": 0.61, "unit": "us/roundtrip", "params": {...}, ...}
std::string json_line(const Result& result, const Options& options);
// 1234567.8 -> "1,234,568"; values below 1000 keep three decimals.
std::string format_value(double value);
// "rounds=100000 actors=2"
std::string format_params(const std::vector<Param>& params);

// Where the bench actors are: $THEATER_BENCH_ACTORS, else the build folder's bench/actors.
std::filesystem::path default_actors_dir();

}  // namespace theater::bench
