// The engine's promises (engine.hpp), checked the same way on every tier: calls and host calls,
// every trap kind as a value (never a crash), deadlines through the fuel check, memory limits,
// re-entrant calls, many instances, clear load errors, and the in-process module cache.
// The fixture and the test module are in engine_conformance.hpp.
#include "engine_conformance.hpp"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "engine/wabt_util.hpp"  // kMaxNesting

namespace theater::engine::conformance {
namespace {

TEST_P(EngineConformance, CallsCarryI32AndI64Values) {
  EXPECT_EQ(call1("double", {21}), 42u);
  EXPECT_EQ(call1("neg", {5}), 0xfffffffbu);  // an i32 result arrives zero-extended
  EXPECT_EQ(call1("neg", {0xfffffffbu}), 5u);
  EXPECT_EQ(call1("sub64", {0x100000000ULL, 1}), 0xffffffffULL);
  EXPECT_EQ(call1("sub64", {0, 1}), UINT64_MAX);
  EXPECT_EQ(call1("fhalf", {f32_slot(3.0f)}) >> 32, 0u);
  EXPECT_EQ(slot_f32(call1("fhalf", {f32_slot(3.0f)})), 1.5f);
  EXPECT_DOUBLE_EQ(slot_f64(call1("fsum", {f64_slot(1.5), f32_slot(2.25f)})), 3.75);
  EXPECT_TRUE(instance->has_function("double"));
  EXPECT_FALSE(instance->has_function("no_such_export"));
}

TEST_P(EngineConformance, HostFunctionsReceiveArgumentsAndReturnResults) {
  EXPECT_EQ(call1("add", {40, 2}), 42u);
  EXPECT_EQ(call1("add", {0xffffffff, 2}), 1u);  // i32 wraps
  EXPECT_EQ(call1("add_twice", {1, 2, 3}), 6u);  // the first result feeds the second call
  ASSERT_EQ(log.add_args.size(), 4u);
  EXPECT_EQ(log.add_args[0], (std::vector<uint64_t>{40, 2}));
  EXPECT_EQ(log.add_args[1], (std::vector<uint64_t>{0xffffffff, 2}));  // i32 zero-extended
  EXPECT_EQ(log.add_args[2], (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(log.add_args[3], (std::vector<uint64_t>{3, 3}));
  EXPECT_EQ(call1("wide", {0x100000000ULL}), 0x200000000ULL);
  EXPECT_EQ(call1("wide", {0x8000000000000001ULL}), 2u);
}

TEST_P(EngineConformance, MisuseOfCallIsATrapNotACrash) {
  uint64_t r[1];
  auto missing = instance->call("no_such_export", {}, r);
  ASSERT_TRUE(missing);
  EXPECT_NE(missing->message.find("no_such_export"), std::string::npos);
  uint64_t one[] = {1};
  EXPECT_TRUE(instance->call("add", one, r));                         // too few arguments
  EXPECT_TRUE(instance->call("double", one, std::span<uint64_t>{}));  // no room for the result
  EXPECT_EQ(call1("double", {4}), 8u);                                // nothing was broken
}

TEST_P(EngineConformance, EveryTrapIsAValueAndTheThreadGoesOn) {
  EXPECT_EQ(trap_of("unreachable").kind, TrapKind::Unreachable);
  EXPECT_EQ(trap_of("oob").kind, TrapKind::OutOfBounds);
  EXPECT_EQ(trap_of("oob_edge").kind, TrapKind::OutOfBounds);
  EXPECT_EQ(trap_of("oob_store").kind, TrapKind::OutOfBounds);
  EXPECT_EQ(trap_of("div0", {0}).kind, TrapKind::DivideByZero);
  EXPECT_EQ(trap_of("rem0", {0}).kind, TrapKind::DivideByZero);
  EXPECT_EQ(trap_of("overflow").kind, TrapKind::IntegerOverflow);
  EXPECT_EQ(trap_of("badconv").kind, TrapKind::InvalidConversion);
  EXPECT_EQ(trap_of("convrange").kind, TrapKind::IntegerOverflow);
  EXPECT_EQ(trap_of("badcall").kind, TrapKind::IndirectCallMismatch);
  EXPECT_EQ(trap_of("nullcall").kind, TrapKind::IndirectCallMismatch);
  EXPECT_EQ(trap_of("pastcall").kind, TrapKind::IndirectCallMismatch);
  EXPECT_FALSE(trap_of("oob").message.empty());  // a message for the logs, on every tier
  // A fresh instance on the same thread works after all that.
  instance = module->instantiate({}, &log);
  EXPECT_EQ(call1("double", {4}), 8u);
}

TEST_P(EngineConformance, DeepRecursionIsStackExhaustedNotACrash) {
  // Recursion that cannot become a loop (two calls per level) runs out of stack.
  EXPECT_EQ(trap_of("recurse2", {0}).kind, TrapKind::StackExhausted);
  // Recursion that calls the host at every level: near the end of the stack the host call is
  // refused (a host function must not overflow: it may hold locks), not run.
  instance = module->instantiate({}, &log);
  EXPECT_EQ(trap_of("recurse_host", {0}).kind, TrapKind::StackExhausted);
  // `f(x) + 1` recursion: the AOT tier's C compiler may turn it into a loop (no stack grows) that
  // spends no fuel (its checks only read it), and then an interrupt ends it as a Timeout, as the
  // scheduler's watchdog would. Either way it ends, as a trap.
  log.refuels_allowed = 20;
  for (const char* name : {"recurse", "recurse_indirect"}) {
    instance = module->instantiate({}, &log);
    log.fuel_calls = 0;
    Interrupter watchdog(*instance);
    const auto kind = trap_of(name, {1}).kind;
    EXPECT_TRUE(kind == TrapKind::StackExhausted || kind == TrapKind::Timeout) << name << ": " << to_string(kind);
  }
  // Through call_indirect with a type whose results outnumber its params (wabt 1.0.32 aborted
  // the process here unless the engine guards against it).
  instance = module->instantiate({}, &log);
  log.fuel_calls = 0;
  {
    Interrupter watchdog(*instance);
    const auto kind = trap_of("recurse_indirect0").kind;
    EXPECT_TRUE(kind == TrapKind::StackExhausted || kind == TrapKind::Timeout) << to_string(kind);
  }
  // Recursion of ordinary depth is fine (the interpreter allows ~1,600 frames, AOT as many as fit
  // on the stack).
  instance = module->instantiate({}, &log);
  EXPECT_EQ(call1("depth", {1000}), 1000u);
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
  auto deep = load(wat, test_linker(), "deep.wat");
  auto run = [&] {
    HostLog mine;
    auto inst = deep->instantiate({}, &mine);
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

TEST_P(EngineConformance, HostRaisedTrapFailsTheCallWithItsKind) {
  for (TrapKind kind : {TrapKind::Host, TrapKind::Timeout, TrapKind::Exit, TrapKind::MemoryLimit}) {
    instance = module->instantiate({}, &log);
    auto t = trap_of("raise", {static_cast<uint64_t>(kind)});
    EXPECT_EQ(t.kind, kind) << to_string(kind);
    EXPECT_EQ(t.message, "raised by the host");
    EXPECT_FALSE(instance->pending_trap()) << "the trap was handed over, not left pending";
    // The wasm after the host call did not run.
    ASSERT_GE(instance->memory().size(), 4u);
    EXPECT_EQ(instance->memory()[0], 0u);
  }
}

TEST_P(EngineConformance, InfiniteLoopEndsAtTheFuelCheck) {
  log.refuels_allowed = 4;
  auto t = trap_of("spin");
  EXPECT_EQ(t.kind, TrapKind::Timeout);
  EXPECT_EQ(t.message, "deadline passed");
  EXPECT_EQ(log.fuel_calls, 5);  // four refuels, then the deadline
}

TEST_P(EngineConformance, FuelIsSetByTheHostAndRefilledByDefault) {
  // The fuel handler runs once the fuel set by the host is used up.
  instance->set_fuel(10);
  EXPECT_EQ(call1("count", {100}), 100u);
  EXPECT_GE(log.fuel_calls, 1);
  // Without a fuel handler in the linker the engine refuels on its own: long loops just run.
  auto plain = load(kModule, test_linker(/*with_fuel=*/false), "plain.wat");
  auto inst = plain->instantiate({}, &log);
  const int calls_before = log.fuel_calls;
  EXPECT_EQ(call1("count", {300000}, inst.get()), 300000u);
  EXPECT_EQ(log.fuel_calls, calls_before);
}

TEST_P(EngineConformance, RunningOutOfFuelChangesNoValueInFlight) {
  instance->set_fuel(1 << 30);
  const uint64_t undisturbed = call1("juggle", {1000});
  EXPECT_EQ(log.fuel_calls, 0);
  // No fuel at all: the handler runs at every back edge, in the middle of the loop's work.
  log.refuel = 0;
  instance->set_fuel(0);
  EXPECT_EQ(call1("juggle", {1000}), undisturbed);
  EXPECT_EQ(log.fuel_calls, 1000);
}

// Code that calls spends no fuel: only an interrupt from another thread (the scheduler's
// watchdog) sends it to the fuel handler, which then decides; here, after three refuels, that
// its deadline has passed.
TEST_P(EngineConformance, AnInterruptReachesCodeThatSpendsNoFuel) {
  log.refuels_allowed = 3;
  instance->set_fuel(1 << 30);
  Trap trap;
  {
    Interrupter watchdog(*instance);
    trap = trap_of("spin_calling");
  }
  EXPECT_EQ(trap.kind, TrapKind::Timeout);
  EXPECT_EQ(trap.message, "deadline passed");
  EXPECT_EQ(log.fuel_calls, 4);
  // The instance goes on working.
  EXPECT_EQ(call1("double", {4}), 8u);
}

// An interrupt through a slot reaches the instance published in it, and nothing once that
// instance is gone (AddressSanitizer would see an interrupt of a destroyed one).
TEST_P(EngineConformance, AnInterruptSlotForgetsADestroyedInstance) {
  InterruptSlot& slot = *InterruptSlot::acquire();
  slot.publish(instance.get());
  slot.interrupt();
  // (100 rounds: the loop is unrolled, and a count of 1 would not reach its back edge)
  EXPECT_EQ(call1("count", {100}), 100u);
  EXPECT_EQ(log.fuel_calls, 1);  // the count's first back edge found the fuel below zero
  instance.reset();              // destroyed while published
  slot.interrupt();              // reaches nothing
  instance = module->instantiate({}, &log);
  slot.publish(instance.get());
  slot.unpublish();
  slot.interrupt();
  log.fuel_calls = 0;
  EXPECT_EQ(call1("count", {100}), 100u);
  EXPECT_EQ(log.fuel_calls, 0);  // taken out of the slot: not interrupted
  InterruptSlot::release(&slot);
}

TEST_P(EngineConformance, FuelSpentInACalleeCountsForTheCaller) {
  // 100 x 100 inner iterations spend 10,000 units; 1,000 units last 1,001 back edges before the
  // count is below zero: nine refuels (the callee, a leaf with a loop, counts in a local and
  // must hand its count back, or each call would start from the same tank and none would run
  // out; the caller calls, so it spends none).
  instance->set_fuel(1000);
  EXPECT_EQ(call1("nested", {100, 100}), 10000u);
  EXPECT_EQ(log.fuel_calls, 9);
}

TEST_P(EngineConformance, MemoryGrowRespectsLimitAndDeclaredMaximum) {
  InstanceLimits limits;
  limits.max_memory_pages = 4;
  instance = module->instantiate(limits, &log);
  EXPECT_EQ(instance->declared_max_pages(), 10u);
  ASSERT_TRUE(instance->write_u32(100, 0xabcdef));
  EXPECT_EQ(call1("grow", {2}), 1u);  // 1 -> 3 pages
  EXPECT_EQ(call1("size", {}), 3u);
  EXPECT_EQ(instance->memory().size(), 3u * 65536);
  EXPECT_EQ(call1("load", {100}), 0xabcdefu);  // contents survive the grow
  call1("store", {3 * 65536 - 4, 77});
  EXPECT_EQ(call1("load", {3 * 65536 - 4}), 77u);
  EXPECT_EQ(call1("grow", {1}), 3u);  // exactly at the limit is fine
  auto t = trap_of("grow", {1});      // past our limit: a failure, not -1
  EXPECT_EQ(t.kind, TrapKind::MemoryLimit);
  EXPECT_NE(t.message.find("memory limit"), std::string::npos) << t.message;

  instance = module->instantiate({}, &log);     // limit 256 > declared max 10
  EXPECT_EQ(call1("grow", {20}), 0xffffffffu);  // past the declared max: -1, no trap
  EXPECT_EQ(call1("grow", {9}), 1u);
  EXPECT_EQ(call1("grow", {1}), 0xffffffffu);
  EXPECT_EQ(call1("size", {}), 10u);

  // The host-side API: old size, or nullopt past the declared maximum.
  instance = module->instantiate({}, &log);
  EXPECT_EQ(instance->grow_memory(1), std::optional<uint32_t>(1));
  EXPECT_EQ(instance->grow_memory(100), std::nullopt);
  EXPECT_EQ(instance->memory().size(), 2u * 65536);
}

TEST_P(EngineConformance, MemoryWithoutDeclaredMaximumGrowsToTheLimit) {
  auto m = load(R"((module
    (memory (export "memory") 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))))");
  EXPECT_EQ(m->info().memory_max_pages, UINT32_MAX);
  InstanceLimits limits;
  limits.max_memory_pages = 3;
  auto inst = m->instantiate(limits, &log);
  EXPECT_EQ(inst->declared_max_pages(), UINT32_MAX);
  EXPECT_EQ(call1("grow", {2}, inst.get()), 1u);
  EXPECT_EQ(inst->memory().size(), 3u * 65536);
  EXPECT_EQ(trap_of("grow", {1}, inst.get()).kind, TrapKind::MemoryLimit);
}

TEST_P(EngineConformance, InitialMemoryOverTheLimitIsALoadError) {
  auto m = load(R"((module (memory (export "memory") 5)))");
  InstanceLimits limits;
  limits.max_memory_pages = 4;
  auto message = load_error([&] { m->instantiate(limits, &log); });
  EXPECT_NE(message.find("5 pages"), std::string::npos) << message;
  limits.max_memory_pages = 5;
  EXPECT_EQ(m->instantiate(limits, &log)->memory().size(), 5u * 65536);
}

TEST_P(EngineConformance, HostFunctionsMayCallBackIn) {
  EXPECT_EQ(call1("reenter", {5}), 11u);
  EXPECT_EQ(call1("reenter", {20}), 41u);
}

TEST_P(EngineConformance, ATrapInANestedCallLeavesTheOuterCallIntact) {
  // The host ignores the nested trap: the outer call goes on.
  EXPECT_EQ(call1("reenter_trap", {0}), 107u);
  ASSERT_EQ(log.nested_traps.size(), 1u);
  EXPECT_EQ(log.nested_traps[0].kind, TrapKind::Unreachable);
  // The host passes a nested host-raised trap on: the outer call fails with exactly that trap.
  auto t = trap_of("reenter_trap", {1});
  EXPECT_EQ(t.kind, TrapKind::Exit);
  EXPECT_EQ(t.message, "raised by the host");
  ASSERT_EQ(log.nested_traps.size(), 2u);
  EXPECT_EQ(log.nested_traps[1].kind, TrapKind::Exit);
}

TEST_P(EngineConformance, StartFunctionMayCallTheHost) {
  auto m = load(R"((module
    (import "host" "poke" (func $poke (param i32 i32)))
    (memory (export "memory") 1)
    (func $start (call $poke (i32.const 16) (i32.const 1234)))
    (start $start)
    (func (export "peek") (result i32) (i32.load (i32.const 16)))))");
  auto inst = m->instantiate({}, &log);
  EXPECT_EQ(call1("peek", {}, inst.get()), 1234u);
}

TEST_P(EngineConformance, InstantiationTrapsAreLoadErrors) {
  auto start_traps = load(R"((module (func $s unreachable) (start $s)))");
  auto message = load_error([&] { start_traps->instantiate({}, &log); });
  EXPECT_NE(message.find("instantiation failed"), std::string::npos) << message;

  auto bad_segment = load(R"((module (memory 1) (data (i32.const 65535) "ab")))");
  message = load_error([&] { bad_segment->instantiate({}, &log); });
  EXPECT_NE(message.find("instantiation failed"), std::string::npos) << message;
}

TEST_P(EngineConformance, ManyInstancesHaveSeparateMemories) {
  std::vector<std::unique_ptr<Instance>> many;
  for (uint32_t i = 0; i < 200; ++i) {
    many.push_back(module->instantiate({}, &log));
    uint64_t args[] = {64, i};
    ASSERT_FALSE(many.back()->call("store", args, {}));
  }
  for (uint32_t i = 0; i < 200; ++i) {
    uint64_t args[] = {64}, r[1];
    ASSERT_FALSE(many[i]->call("load", args, r));
    EXPECT_EQ(r[0], i);
    uint32_t seen;
    std::memcpy(&seen, many[i]->memory().data() + 64, 4);
    EXPECT_EQ(seen, i);
  }
}

TEST_P(EngineConformance, InstancesRunOnManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> traps{0}, ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      HostLog mine;
      for (int i = 0; i < 50; ++i) {
        auto inst = module->instantiate({}, &mine);
        uint64_t r[1];
        if (inst->call("unreachable", {}, r)) ++traps;
        inst = module->instantiate({}, &mine);
        uint64_t args[] = {3};
        if (!inst->call("reenter", args, r) && r[0] == 7) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(traps.load(), 200);
  EXPECT_EQ(ok.load(), 200);
}

// Nesting at the engine's limit loads and runs on both tiers; one level more is a load error
// that says so (instrument.test.cpp has deeper ones, and the small stack).
TEST_P(EngineConformance, NestingUpToTheLimitLoadsAndRunsAndPastItIsRefused) {
  auto deep = engine->load(test::deeply_nested_module(kMaxNesting), Linker{}, "deep.wasm");
  auto inst = deep->instantiate({}, nullptr);
  EXPECT_FALSE(inst->call("f", {}, {}));
  const std::string message = load_error([&] {
    engine->load(test::deeply_nested_module(kMaxNesting + 1), Linker{}, "deeper.wasm");
  });
  EXPECT_EQ(message, fmt::format("deeper.wasm: function 0 nests blocks {} deep; the engine allows at most {}",
                                 kMaxNesting + 1, kMaxNesting));
}

TEST_P(EngineConformance, LoadErrorsNameTheProblem) {
  auto error_of = [&](std::vector<uint8_t> bytes) {
    return load_error([&] { engine->load(bytes, test_linker(), "bad.wasm"); });
  };
  auto expect_error = [&](std::vector<uint8_t> bytes, const std::string& needle) {
    const std::string message = error_of(std::move(bytes));
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    EXPECT_NE(message.find("bad.wasm"), std::string::npos) << message;
  };
  expect_error({'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, "not a WebAssembly module");
  auto good = test::wat_to_wasm(kModule);
  expect_error(std::vector<uint8_t>(good.begin(), good.begin() + good.size() / 2), "truncated");
  EXPECT_EQ(error_of(test::wat_to_wasm(R"((module (import "host" "nope" (func))))")),
            "bad.wasm: import host.nope is not provided by the runtime");
  EXPECT_EQ(error_of(test::wat_to_wasm(R"((module (import "host" "add" (func (param i64)))))")),
            "bad.wasm: import host.add has signature (i64) -> (), expected (i32, i32) -> i32");
  expect_error(test::wat_to_wasm(R"((module (func (export "f") (result i32)
      (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4)))))"), "SIMD");
}

TEST_P(EngineConformance, SecondLoadOfAModuleIsServedFromMemory) {
  auto before = engine->stats();
  auto again = engine->load(test::wat_to_wasm(kModule), test_linker(), "conformance.wat");
  auto after = engine->stats();
  EXPECT_EQ(after.compiles, before.compiles);
  EXPECT_EQ(after.memory_hits, before.memory_hits + 1);
  EXPECT_EQ(again->tier(), GetParam());
  EXPECT_EQ(call1("double", {8}, again->instantiate({}, &log).get()), 16u);
}

INSTANTIATE_TEST_SUITE_P(Tiers, EngineConformance, ::testing::Values(Tier::Aot, Tier::Interp),
                         tier_name);

TEST(AotCache, AFreshEngineLoadsFromTheDiskCache) {
  auto dir = std::filesystem::temp_directory_path() / ("theater-cache-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto wasm = test::wat_to_wasm(R"((module (func (export "f") (result i32) (i32.const 7))))");
  EngineConfig config;
  config.tier = Tier::Aot;
  config.cache_dir = dir;
  {
    auto engine = Engine::create(config);
    engine->load(wasm, test_linker(), "f.wat");
    EXPECT_EQ(engine->stats().compiles, 1u);
  }
  auto engine = Engine::create(config);
  auto module = engine->load(wasm, test_linker(), "f.wat");
  EXPECT_EQ(engine->stats().compiles, 0u);
  EXPECT_EQ(engine->stats().cache_hits, 1u);
  uint64_t r[1];
  EXPECT_FALSE(module->instantiate({}, nullptr)->call("f", {}, r));
  EXPECT_EQ(r[0], 7u);
  std::filesystem::remove_all(dir);
}

// A compile that runs past EngineConfig::compile_timeout is stopped, with what it started, and
// the load fails saying so. The C compiler here answers --version (the engine asks it once) and
// then takes a minute.
TEST(AotCompile, ACompileThatRunsPastItsTimeoutIsStoppedAndTheLoadFails) {
  auto dir = std::filesystem::temp_directory_path() / ("theater-slow-cc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto cc = dir / "slow-cc";
  {
    std::ofstream script(cc);
    script << "#!/bin/sh\ncase \"$1\" in --version) exec cc --version;; esac\nsleep 60\n";
  }
  std::filesystem::permissions(cc, std::filesystem::perms::owner_all);
  EngineConfig config;
  config.tier = Tier::Aot;
  config.cache_dir = dir / "cache";
  config.c_compiler = cc.string();
  config.compile_timeout = std::chrono::milliseconds(2000);
  auto engine = Engine::create(config);
  ASSERT_EQ(engine->tier(), Tier::Aot);
  const auto wasm = test::wat_to_wasm(R"((module (func (export "f") (result i32) (i32.const 7))))");
  try {
    engine->load(wasm, test_linker(), "slow.wat");
    ADD_FAILURE() << "the load did not fail";
  } catch (const LoadError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("slow.wat: "), std::string::npos) << message;
    EXPECT_NE(message.find("ran past its limit of 2 s and was stopped"), std::string::npos) << message;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace theater::engine::conformance
