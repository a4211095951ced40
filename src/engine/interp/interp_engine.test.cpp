// The interpreter tier's own behaviour, beyond the conformance suite that every tier passes
// (tests/engine/engine_conformance.*): the factory, the in-process module cache, and what only
// this tier needs to check.
#include "engine/interp/interp_engine.hpp"

#include <gtest/gtest.h>

#include <string>

#include "support/wat.hpp"

namespace theater::engine {
namespace {

uint64_t host_nop(Instance&, const uint64_t*) { return 0; }

// Calls back into the export "in", which calls this again: recursion through the host.
uint64_t host_again(Instance& inst, const uint64_t*) {
  uint64_t r[1];
  if (auto trap = inst.call("in", {}, r)) inst.raise(*trap);
  return 0;
}

Linker linker_with_nop() {
  Linker l;
  l.define("host", "nop", FuncSig{{}, {}}, host_nop);
  return l;
}

constexpr std::string_view kUsesNop = R"((module
  (import "host" "nop" (func $nop))
  (memory (export "memory") 1)
  (func (export "f") (result i32) (call $nop) (i32.const 5))))";

std::string load_error(Engine& engine, std::span<const uint8_t> wasm, const Linker& linker,
                       std::string_view label) {
  try {
    engine.load(wasm, linker, label);
  } catch (const LoadError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a LoadError";
  return "";
}

TEST(InterpEngine, FactoryAndCreateGiveTheInterpreter) {
  auto engine = make_interp_engine({});
  EXPECT_EQ(engine->tier(), Tier::Interp);
  auto module = engine->load(test::wat_to_wasm(kUsesNop), linker_with_nop(), "nop.wat");
  EXPECT_EQ(module->tier(), Tier::Interp);
  EngineConfig config;
  config.tier = Tier::Interp;
  EXPECT_EQ(Engine::create(config)->tier(), Tier::Interp);
}

TEST(InterpEngine, ModuleInfoIsTheModuleAsWritten) {
  auto engine = make_interp_engine({});
  auto module = engine->load(test::wat_to_wasm(kUsesNop), linker_with_nop(), "nop.wat");
  const ModuleInfo& info = module->info();
  // Not the instrumented module: no theater.__fuel_exhausted import, no fuel global export.
  ASSERT_EQ(info.imports.size(), 1u);
  EXPECT_EQ(info.imports[0].name, "nop");
  ASSERT_EQ(info.functions.size(), 1u);
  EXPECT_EQ(info.functions[0].name, "f");
  EXPECT_TRUE(info.exports_memory);
  EXPECT_EQ(info.sha256.size(), 64u);
  auto inst = module->instantiate({}, nullptr);
  uint64_t r[1];
  ASSERT_FALSE(inst->call("f", {}, r));
  EXPECT_EQ(r[0], 5u);
}

TEST(InterpEngine, ParsedModulesAreSharedWhileInUse) {
  auto engine = make_interp_engine({});
  const auto wasm = test::wat_to_wasm(kUsesNop);
  auto first = engine->load(wasm, linker_with_nop(), "a.wat");
  EXPECT_EQ(engine->stats().memory_hits, 0u);
  auto second = engine->load(wasm, linker_with_nop(), "b.wat");
  EXPECT_EQ(engine->stats().memory_hits, 1u);
  EXPECT_EQ(engine->stats().compiles, 0u);
  // The linker is checked on every load, and errors name the label of that load.
  EXPECT_EQ(load_error(*engine, wasm, Linker{}, "c.wat"),
            "c.wat: import host.nop is not provided by the runtime");
  EXPECT_EQ(engine->stats().memory_hits, 2u);
  // Once no module uses it, the parsed module is gone: the next load parses again.
  first.reset();
  second.reset();
  engine->load(wasm, linker_with_nop(), "d.wat");
  EXPECT_EQ(engine->stats().memory_hits, 2u);
}

TEST(InterpEngine, AnInstanceOutlivesItsModuleAndEngine) {
  std::unique_ptr<Instance> inst;
  {
    auto engine = make_interp_engine({});
    inst = engine->load(test::wat_to_wasm(kUsesNop), linker_with_nop(), "nop.wat")
               ->instantiate({}, nullptr);
  }
  uint64_t r[1];
  ASSERT_FALSE(inst->call("f", {}, r));
  EXPECT_EQ(r[0], 5u);
}

TEST(InterpEngine, NonFunctionImportsAreRefused) {
  auto engine = make_interp_engine({});
  auto wasm = test::wat_to_wasm(R"((module (import "host" "mem" (memory 1))))");
  EXPECT_EQ(load_error(*engine, wasm, linker_with_nop(), "mem.wat"),
            "mem.wat: import host.mem (memory) is not provided by the runtime");
}

TEST(InterpEngine, TrapMessagesAreWabts) {
  auto engine = make_interp_engine({});
  auto module = engine->load(test::wat_to_wasm(R"((module
    (memory (export "memory") 1)
    (func (export "oob") (result i32) (i32.load (i32.const 70000)))))"),
                             Linker{}, "oob.wat");
  uint64_t r[1];
  auto trap = module->instantiate({}, nullptr)->call("oob", {}, r);
  ASSERT_TRUE(trap);
  EXPECT_EQ(trap->kind, TrapKind::OutOfBounds);
  EXPECT_NE(trap->message.find("out of bounds memory access"), std::string::npos) << trap->message;
}

TEST(InterpEngine, RecursionThroughTheHostEndsAsStackExhausted) {
  // Every call() has a wabt Thread of its own, so the frame limit alone would not stop this.
  auto engine = make_interp_engine({});
  Linker linker;
  linker.define("host", "again", FuncSig{{}, {}}, host_again);
  auto module = engine->load(test::wat_to_wasm(R"((module
    (import "host" "again" (func $again))
    (func (export "in") (result i32) (call $again) (i32.const 1))))"),
                             linker, "again.wat");
  auto inst = module->instantiate({}, nullptr);
  uint64_t r[1];
  auto trap = inst->call("in", {}, r);
  ASSERT_TRUE(trap);
  EXPECT_EQ(trap->kind, TrapKind::StackExhausted);
  EXPECT_NE(trap->message.find("nested"), std::string::npos) << trap->message;
}

TEST(InterpEngine, TrapsAfterATrapAreStillValues) {
  // The runtime discards an instance after a trap, but using it again must not crash either:
  // every call runs on a fresh wabt Thread.
  auto engine = make_interp_engine({});
  auto module = engine->load(test::wat_to_wasm(R"((module
    (func $r (export "recurse") (result i32) (i32.add (call $r) (i32.const 1)))
    (func (export "one") (result i32) (i32.const 1))))"),
                             Linker{}, "r.wat");
  auto inst = module->instantiate({}, nullptr);
  uint64_t r[1];
  for (int i = 0; i < 3; ++i) {
    auto trap = inst->call("recurse", {}, r);
    ASSERT_TRUE(trap);
    EXPECT_EQ(trap->kind, TrapKind::StackExhausted);
    ASSERT_FALSE(inst->call("one", {}, r));
    EXPECT_EQ(r[0], 1u);
  }
}

}  // namespace
}  // namespace theater::engine
