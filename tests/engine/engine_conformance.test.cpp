// The engine's promises (engine.hpp), checked the same way on both tiers: calls and host calls,
// every trap kind as a value (never a crash), deadlines through the fuel check, memory limits,
// re-entrant calls, many instances, clear load errors, and the AOT cache.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "engine/engine.hpp"
#include "engine/resolve.hpp"
#include "support/wat.hpp"

namespace theater::engine {
namespace {

using test::wat_to_wasm;

FuncSig sig(std::vector<ValType> p, std::vector<ValType> r) { return {std::move(p), std::move(r)}; }

uint64_t host_add(Instance&, const uint64_t* a) { return static_cast<uint32_t>(a[0] + a[1]); }
uint64_t host_wide(Instance&, const uint64_t* a) { return a[0] * 2; }
uint64_t host_raise(Instance& inst, const uint64_t*) {
  inst.raise({TrapKind::Host, "raised by the host"});
  return 0;
}
// Calls back into the instance: the export "double" with the argument.
uint64_t host_reenter(Instance& inst, const uint64_t* a) {
  uint64_t args[] = {a[0]}, r[1] = {0};
  if (auto trap = inst.call("double", args, r)) {
    inst.raise(*trap);
    return 0;
  }
  return r[0] + 1;
}
std::atomic<int> g_fuel_calls{0};
// The runtime's policy in miniature: refuel a few times, then the deadline has passed.
uint64_t host_fuel(Instance& inst, const uint64_t*) {
  if (++g_fuel_calls > 20) {
    inst.raise({TrapKind::Timeout, "deadline passed"});
  } else {
    inst.set_fuel(1000);
  }
  return 0;
}

Linker test_linker() {
  Linker l;
  l.define("host", "add", sig({ValType::I32, ValType::I32}, {ValType::I32}), host_add);
  l.define("host", "wide", sig({ValType::I64}, {ValType::I64}), host_wide);
  l.define("host", "raise", sig({}, {}), host_raise);
  l.define("host", "reenter", sig({ValType::I32}, {ValType::I32}), host_reenter);
  l.define("theater", "__fuel_exhausted", sig({}, {}), host_fuel);
  return l;
}

constexpr std::string_view kModule = R"((module
  (import "host" "add" (func $add (param i32 i32) (result i32)))
  (import "host" "wide" (func $wide (param i64) (result i64)))
  (import "host" "raise" (func $raise))
  (import "host" "reenter" (func $reenter (param i32) (result i32)))
  (memory (export "memory") 1 10)
  (table 2 funcref)
  (elem (i32.const 0) $double)
  (type $v_i (func (result i32)))
  (func $double (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "add") (param i32 i32) (result i32) (call $add (local.get 0) (local.get 1)))
  (func (export "wide") (param i64) (result i64) (call $wide (local.get 0)))
  (func (export "raise") (call $raise))
  (func (export "reenter") (param i32) (result i32) (call $reenter (local.get 0)))
  (func (export "unreachable") unreachable)
  (func (export "oob") (result i32) (i32.load (i32.const 0x7fffffff)))
  (func (export "div0") (param i32) (result i32) (i32.div_s (i32.const 1) (local.get 0)))
  (func (export "overflow") (result i32) (i32.div_s (i32.const 0x80000000) (i32.const -1)))
  (func (export "badconv") (result i32) (i32.trunc_f32_s (f32.const nan)))
  (func (export "badcall") (result i32) (call_indirect (type $v_i) (i32.const 0)))
  (func (export "nullcall") (result i32) (call_indirect (type $v_i) (i32.const 1)))
  (func $rec (export "recurse") (param i32) (result i32) (i32.add (call $rec (local.get 0)) (i32.const 1)))
  (func (export "spin") (loop $l (br $l)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "fsum") (param f64 f32) (result f64) (f64.add (local.get 0) (f64.promote_f32 (local.get 1))))
))";

class EngineConformance : public ::testing::TestWithParam<Tier> {
 protected:
  void SetUp() override {
    engine = Engine::create(EngineConfig{.tier = GetParam()});
    ASSERT_EQ(engine->tier(), GetParam());
    module = engine->load(wat_to_wasm(kModule), test_linker(), "conformance.wat");
    instance = module->instantiate({}, nullptr);
    g_fuel_calls = 0;
  }
  uint64_t call1(std::string_view name, std::vector<uint64_t> args) {
    uint64_t r[1] = {0};
    auto trap = instance->call(name, args, r);
    EXPECT_FALSE(trap) << name << ": " << (trap ? trap->message : "");
    return r[0];
  }
  Trap trap_of(std::string_view name, std::vector<uint64_t> args = {}) {
    uint64_t r[1];
    auto trap = instance->call(name, args, r);
    EXPECT_TRUE(trap) << name << " should have trapped";
    return trap.value_or(Trap{});
  }
  std::unique_ptr<Engine> engine;
  std::shared_ptr<Module> module;
  std::unique_ptr<Instance> instance;
};

TEST_P(EngineConformance, CallsAndHostCallsCarryValues) {
  EXPECT_EQ(call1("double", {21}), 42u);
  EXPECT_EQ(call1("add", {40, 2}), 42u);
  EXPECT_EQ(call1("add", {0xffffffff, 2}), 1u);  // i32 wraps
  EXPECT_EQ(call1("wide", {0x100000000ULL}), 0x200000000ULL);
  double a = 1.5;
  float b = 2.25f;
  uint64_t abits, result[1];
  uint32_t bbits;
  std::memcpy(&abits, &a, 8);
  std::memcpy(&bbits, &b, 4);
  uint64_t args[] = {abits, bbits};
  ASSERT_FALSE(instance->call("fsum", args, result));
  double sum;
  std::memcpy(&sum, result, 8);
  EXPECT_DOUBLE_EQ(sum, 3.75);
}

TEST_P(EngineConformance, EveryTrapIsAValueAndTheThreadGoesOn) {
  EXPECT_EQ(trap_of("unreachable").kind, TrapKind::Unreachable);
  EXPECT_EQ(trap_of("oob").kind, TrapKind::OutOfBounds);
  EXPECT_EQ(trap_of("div0", {0}).kind, TrapKind::DivideByZero);
  EXPECT_EQ(trap_of("overflow").kind, TrapKind::IntegerOverflow);
  EXPECT_EQ(trap_of("badconv").kind, TrapKind::InvalidConversion);
  EXPECT_EQ(trap_of("badcall").kind, TrapKind::IndirectCallMismatch);
  EXPECT_EQ(trap_of("nullcall").kind, TrapKind::IndirectCallMismatch);
  EXPECT_EQ(trap_of("recurse", {1}).kind, TrapKind::StackExhausted);
  // A fresh instance on the same thread works after all that.
  instance = module->instantiate({}, nullptr);
  EXPECT_EQ(call1("double", {4}), 8u);
}

TEST_P(EngineConformance, HostRaisedTrapFailsTheCallWithItsKind) {
  auto t = trap_of("raise");
  EXPECT_EQ(t.kind, TrapKind::Host);
  EXPECT_EQ(t.message, "raised by the host");
}

TEST_P(EngineConformance, InfiniteLoopEndsAtTheFuelCheck) {
  auto t = trap_of("spin");
  EXPECT_EQ(t.kind, TrapKind::Timeout);
  EXPECT_GT(g_fuel_calls.load(), 20);
}

TEST_P(EngineConformance, MemoryGrowRespectsLimitAndDeclaredMaximum) {
  InstanceLimits limits;
  limits.max_memory_pages = 4;
  instance = module->instantiate(limits, nullptr);
  EXPECT_EQ(call1("grow", {2}), 1u);  // 1 -> 3 pages
  call1("store", {3 * 65536 - 4, 77});
  EXPECT_EQ(call1("load", {3 * 65536 - 4}), 77u);
  EXPECT_EQ(trap_of("grow", {5}).kind, TrapKind::MemoryLimit);  // past our limit: a failure
  instance = module->instantiate({}, nullptr);                // limit 256 > declared max 10
  EXPECT_EQ(call1("grow", {20}), 0xffffffffu);               // past the declared max: -1
  EXPECT_EQ(call1("grow", {9}), 1u);
}

TEST_P(EngineConformance, HostFunctionsMayCallBackIn) {
  EXPECT_EQ(call1("reenter", {5}), 11u);
}

TEST_P(EngineConformance, ManyInstancesHaveSeparateMemories) {
  std::vector<std::unique_ptr<Instance>> many;
  for (uint32_t i = 0; i < 200; ++i) {
    many.push_back(module->instantiate({}, nullptr));
    uint64_t args[] = {64, i};
    ASSERT_FALSE(many.back()->call("store", args, {}));
  }
  for (uint32_t i = 0; i < 200; ++i) {
    uint64_t args[] = {64}, r[1];
    ASSERT_FALSE(many[i]->call("load", args, r));
    EXPECT_EQ(r[0], i);
  }
}

TEST_P(EngineConformance, InstancesRunOnManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> traps{0}, ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto inst = module->instantiate({}, nullptr);
        uint64_t r[1];
        if (inst->call("unreachable", {}, r)) ++traps;
        uint64_t args[] = {3};
        if (!inst->call("double", args, r) && r[0] == 6) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(traps.load(), 200);
  EXPECT_EQ(ok.load(), 200);
}

TEST_P(EngineConformance, LoadErrorsNameTheProblem) {
  auto expect_error = [&](std::vector<uint8_t> bytes, const std::string& needle) {
    try {
      engine->load(bytes, test_linker(), "bad.wasm");
      ADD_FAILURE() << "expected a LoadError containing '" << needle << "'";
    } catch (const LoadError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.wasm"), std::string::npos) << e.what();
    }
  };
  expect_error({'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, "not a WebAssembly module");
  auto good = wat_to_wasm(kModule);
  expect_error(std::vector<uint8_t>(good.begin(), good.begin() + good.size() / 2), "truncated");
  expect_error(wat_to_wasm(R"((module (import "host" "nope" (func))))"), "host.nope");
  expect_error(wat_to_wasm(R"((module (import "host" "add" (func (param i64)))))"), "signature");
  expect_error(wat_to_wasm(R"((module (func (export "f") (result i32)
      (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4)))))"), "SIMD");
}

TEST_P(EngineConformance, SecondLoadOfAModuleCostsNoCompile) {
  auto before = engine->stats();
  auto again = engine->load(wat_to_wasm(kModule), test_linker(), "conformance.wat");
  auto after = engine->stats();
  EXPECT_EQ(after.compiles, before.compiles);
  if (GetParam() == Tier::Aot) EXPECT_EQ(after.memory_hits, before.memory_hits + 1);
}

// Frames of ~2.4 KB: the native stack runs out long before the call-depth limit. That must be a
// StackExhausted trap (the AOT tier catches the overflow on an alternate signal stack), on the
// main thread and on another thread alike.
TEST_P(EngineConformance, NativeStackOverflowIsATrapNotACrash) {
  constexpr int kLocals = 300;
  std::string wat = "(module (func $f (export \"f\") (param i32) (result i32)";
  for (int i = 0; i < kLocals; ++i) wat += " (local i64)";
  for (int i = 1; i <= kLocals; ++i) {
    wat += " (local.set " + std::to_string(i) + " (i64.extend_i32_u (i32.add (local.get 0) (i32.const " +
           std::to_string(i) + "))))";
  }
  wat += " (drop (call $f (i32.add (local.get 0) (i32.const 1))))";
  wat += " (i64.const 0)";
  for (int i = 1; i <= kLocals; ++i) wat += " (local.get " + std::to_string(i) + ") (i64.add)";
  wat += " (i32.wrap_i64)))";
  auto deep = engine->load(wat_to_wasm(wat), test_linker(), "deep.wat");
  auto run = [&] {
    auto inst = deep->instantiate({}, nullptr);
    uint64_t args[] = {0}, r[1];
    auto trap = inst->call("f", args, r);
    ASSERT_TRUE(trap);
    EXPECT_EQ(trap->kind, TrapKind::StackExhausted) << trap->message;
  };
  run();
  run();  // and again: the handler and the thread survive it
  std::thread other(run);
  other.join();
}

INSTANTIATE_TEST_SUITE_P(Tiers, EngineConformance, ::testing::Values(Tier::Aot, Tier::Interp),
                         [](const auto& info) { return info.param == Tier::Aot ? "Aot" : "Interp"; });

TEST(AotCache, AFreshEngineLoadsFromTheDiskCache) {
  auto dir = std::filesystem::temp_directory_path() / ("theater-cache-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto wasm = wat_to_wasm(R"((module (func (export "f") (result i32) (i32.const 7))))");
  {
    auto engine = Engine::create(EngineConfig{.tier = Tier::Aot, .cache_dir = dir});
    engine->load(wasm, test_linker(), "f.wat");
    EXPECT_EQ(engine->stats().compiles, 1u);
  }
  auto engine = Engine::create(EngineConfig{.tier = Tier::Aot, .cache_dir = dir});
  auto module = engine->load(wasm, test_linker(), "f.wat");
  EXPECT_EQ(engine->stats().compiles, 0u);
  EXPECT_EQ(engine->stats().cache_hits, 1u);
  uint64_t r[1];
  EXPECT_FALSE(module->instantiate({}, nullptr)->call("f", {}, r));
  EXPECT_EQ(r[0], 7u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace theater::engine
