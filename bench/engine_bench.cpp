// Engine micro-benchmarks, both tiers: a fresh instance, a wasm->host call, a host->wasm call,
// and compute kernels (call-heavy fib, memory-heavy sieve, loop-heavy mixing) with and without
// the fuel checks (fuel:1 / fuel:0 on the AOT tier), to show what they cost, plus fib in native C.
// Prints Google Benchmark's table; pass --benchmark_format=json for scripts.
#include <benchmark/benchmark.h>

#include <cstdlib>

#include "base/files.hpp"
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
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  ;; Primes below $n (at most 65536: one page of flags), by the sieve of Eratosthenes.
  (func (export "sieve") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $count i32)
    (local.set $i (i32.const 0))
    (block $z (loop $zl
      (br_if $z (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store8 (local.get $i) (i32.const 0))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $zl)))
    (local.set $i (i32.const 2))
    (block $done (loop $outer
      (br_if $done (i32.ge_u (i32.mul (local.get $i) (local.get $i)) (local.get $n)))
      (if (i32.eqz (i32.load8_u (local.get $i)))
        (then
          (local.set $j (i32.mul (local.get $i) (local.get $i)))
          (block $d2 (loop $inner
            (br_if $d2 (i32.ge_u (local.get $j) (local.get $n)))
            (i32.store8 (local.get $j) (i32.const 1))
            (local.set $j (i32.add (local.get $j) (local.get $i)))
            (br $inner)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $outer)))
    (local.set $i (i32.const 2))
    (block $c (loop $cl
      (br_if $c (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $count (i32.add (local.get $count) (i32.eqz (i32.load8_u (local.get $i)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $cl)))
    (local.get $count))
  ;; A tight arithmetic loop: $n rounds of a linear congruential step mixed with a rotate.
  (func (export "mix") (param $n i32) (result i32) (local $x i32)
    (local.set $x (i32.const 1))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $x (i32.rotl (i32.add (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345))
                              (i32.const 7)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $x)))
)";

uint64_t host_nop(Instance&, const uint64_t* args) { return args[0] & 1; }

std::shared_ptr<Module> load(Tier tier, bool fuel_checks = true) {
  static std::shared_ptr<Module> cache[2][2];
  auto& slot = cache[tier == Tier::Aot ? 0 : 1][fuel_checks ? 1 : 0];
  if (!slot) {
    ::setenv("THEATER_CACHE", THEATER_BUILD_DIR "/aot-cache", 0);
    Linker linker;
    linker.define("bench", "nop", FuncSig{{ValType::I32}, {ValType::I32}}, host_nop);
    auto engine = Engine::create(EngineConfig{.tier = tier, .fuel_checks = fuel_checks});
    slot = engine->load(theater::test::wat_to_wasm(kModule), linker, "bench.wat");
  }
  return slot;
}

Tier tier_of(const benchmark::State& state) { return state.range(0) == 0 ? Tier::Aot : Tier::Interp; }

// A compute kernel on the AOT tier: range(0) = argument, range(1) = 1 with fuel checks, 0 without.
void compute(benchmark::State& state, std::string_view kernel) {
  auto module = load(Tier::Aot, state.range(1) != 0);
  auto instance = module->instantiate({}, nullptr);
  for (auto _ : state) {
    uint64_t args[] = {static_cast<uint64_t>(state.range(0))}, result[1];
    instance->call(kernel, args, result);
    benchmark::DoNotOptimize(result[0]);
  }
}
// The C kernels (bench/kernels.c, compiled by clang as actors are) on the AOT tier, with and
// without the fuel checks: what they cost on code a compiler wrote.
void kernel(benchmark::State& state, std::string_view name) {
  static std::shared_ptr<Module> modules[2];
  auto& module = modules[state.range(1) != 0 ? 1 : 0];
  if (!module) {
    ::setenv("THEATER_CACHE", THEATER_BUILD_DIR "/aot-cache", 0);
    auto engine = Engine::create(EngineConfig{.tier = Tier::Aot, .fuel_checks = state.range(1) != 0});
    module = engine->load(theater::read_file_bytes(THEATER_BENCH_KERNELS), Linker{}, "kernels.wasm");
  }
  auto instance = module->instantiate({}, nullptr);
  for (auto _ : state) {
    uint64_t args[] = {static_cast<uint64_t>(state.range(0))}, result[1];
    if (auto trap = instance->call(name, args, result)) state.SkipWithError(trap->message.c_str());
    benchmark::DoNotOptimize(result[0]);
  }
}
void BM_KernelSha256(benchmark::State& state) { kernel(state, "sha256"); }
void BM_KernelSort(benchmark::State& state) { kernel(state, "sort"); }
void BM_KernelEval(benchmark::State& state) { kernel(state, "eval"); }
void BM_KernelSieve(benchmark::State& state) { kernel(state, "sieve"); }
void BM_KernelFib(benchmark::State& state) { kernel(state, "fib"); }

void BM_ComputeFib(benchmark::State& state) { compute(state, "fib"); }
void BM_ComputeSieve(benchmark::State& state) { compute(state, "sieve"); }
void BM_ComputeMix(benchmark::State& state) { compute(state, "mix"); }

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

// The same fib in C, for the cost of wasm (bounds checks, fuel checks).
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
BENCHMARK(BM_ComputeFib)->ArgNames({"n", "fuel"})->Args({25, 0})->Args({25, 1});
BENCHMARK(BM_ComputeSieve)->ArgNames({"n", "fuel"})->Args({65536, 0})->Args({65536, 1});
BENCHMARK(BM_ComputeMix)->ArgNames({"n", "fuel"})->Args({1000000, 0})->Args({1000000, 1});
BENCHMARK(BM_KernelSha256)->ArgNames({"kib", "fuel"})->Args({256, 0})->Args({256, 1});
BENCHMARK(BM_KernelSort)->ArgNames({"n", "fuel"})->Args({100000, 0})->Args({100000, 1});
BENCHMARK(BM_KernelEval)->ArgNames({"terms", "fuel"})->Args({20000, 0})->Args({20000, 1});
BENCHMARK(BM_KernelSieve)->ArgNames({"n", "fuel"})->Args({65536, 0})->Args({65536, 1});
BENCHMARK(BM_KernelFib)->ArgNames({"n", "fuel"})->Args({25, 0})->Args({25, 1});
BENCHMARK(BM_FibNative)->ArgName("n")->Arg(25);

}  // namespace

BENCHMARK_MAIN();
