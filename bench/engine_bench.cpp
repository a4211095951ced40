// Engine micro-benchmarks, both tiers: a fresh instance, a wasm->host call, a host->wasm call,
// and a compute loop (to show the cost of the fuel checks). Prints Google Benchmark's table;
// pass --benchmark_format=json for scripts.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "engine/engine.hpp"
#include "support/wat.hpp"

namespace {

using namespace theater::engine;

constexpr std::string_view kModule = R"((module
  (import "bench" "nop" (func $nop (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "call_host") (param $n i32) (result i32)
    (local $acc i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (call $nop (local.get $n))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc))
  (func (export "noop") (param i32) (result i32) (local.get 0))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2))))))))
)";

uint64_t host_nop(Instance&, const uint64_t* args) { return args[0] & 1; }

std::shared_ptr<Module> load(Tier tier) {
  static std::shared_ptr<Module> cache[2];
  auto& slot = cache[tier == Tier::Aot ? 0 : 1];
  if (!slot) {
    ::setenv("THEATER_CACHE", THEATER_BUILD_DIR "/aot-cache", 0);
    Linker linker;
    linker.define("bench", "nop", FuncSig{{ValType::I32}, {ValType::I32}}, host_nop);
    auto engine = Engine::create(EngineConfig{.tier = tier});
    slot = engine->load(theater::test::wat_to_wasm(kModule), linker, "bench.wat");
  }
  return slot;
}

Tier tier_of(const benchmark::State& state) { return state.range(0) == 0 ? Tier::Aot : Tier::Interp; }

void BM_Instantiate(benchmark::State& state) {
  auto module = load(tier_of(state));
  for (auto _ : state) {
    auto instance = module->instantiate({}, nullptr);
    benchmark::DoNotOptimize(instance.get());
  }
}

void BM_HostCall(benchmark::State& state) {
  auto module = load(tier_of(state));
  auto instance = module->instantiate({}, nullptr);
  constexpr uint64_t kCalls = 100000;
  for (auto _ : state) {
    uint64_t args[] = {kCalls}, result[1];
    instance->call("call_host", args, result);
    benchmark::DoNotOptimize(result[0]);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kCalls));
}

void BM_CallIntoWasm(benchmark::State& state) {
  auto module = load(tier_of(state));
  auto instance = module->instantiate({}, nullptr);
  for (auto _ : state) {
    uint64_t args[] = {7}, result[1];
    instance->call("noop", args, result);
    benchmark::DoNotOptimize(result[0]);
  }
}

void BM_Fib(benchmark::State& state) {
  auto module = load(tier_of(state));
  auto instance = module->instantiate({}, nullptr);
  for (auto _ : state) {
    uint64_t args[] = {static_cast<uint64_t>(state.range(1))}, result[1];
    instance->call("fib", args, result);
    benchmark::DoNotOptimize(result[0]);
  }
}

// The same fib in C, for the cost of wasm (bounds checks, call-depth count, fuel checks).
[[gnu::noinline]] uint32_t fib_native(uint32_t n) { return n < 2 ? n : fib_native(n - 1) + fib_native(n - 2); }

void BM_FibNative(benchmark::State& state) {
  for (auto _ : state) {
    uint32_t n = static_cast<uint32_t>(state.range(0));
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(fib_native(n));
  }
}

// range(0): 0 = AOT, 1 = interpreter
BENCHMARK(BM_Instantiate)->ArgName("interp")->Arg(0)->Arg(1);
BENCHMARK(BM_HostCall)->ArgName("interp")->Arg(0)->Arg(1);
BENCHMARK(BM_CallIntoWasm)->ArgName("interp")->Arg(0)->Arg(1);
BENCHMARK(BM_Fib)->ArgNames({"interp", "n"})->Args({0, 25})->Args({1, 20});
BENCHMARK(BM_FibNative)->ArgName("n")->Arg(25);

}  // namespace

BENCHMARK_MAIN();
