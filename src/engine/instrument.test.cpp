#include "engine/instrument.hpp"

#include <gtest/gtest.h>

#include "engine/engine.hpp"
#include "support/wat.hpp"

namespace theater::engine {
namespace {

TEST(Instrument, AddsImportsFuelGlobalAndRenumbersFunctions) {
  auto wasm = test::wat_to_wasm(R"((module
    (import "x" "y" (func $imp (param i32) (result i32)))
    (memory (export "memory") 1)
    (table 2 funcref)
    (elem (i32.const 0) $a $b)
    (func $a (export "a") (result i32) (call $b))
    (func $b (result i32) (loop $l (br_if $l (i32.const 0))) (call $imp (i32.const 1)))
    (func $grow (export "grow") (result i32) (memory.grow (i32.const 1)))
    (start $s)
    (func $s (loop (nop)) (loop (nop)))
  ))");
  InstrumentStats stats;
  auto out = instrument(wasm, "t.wat", &stats);
  auto info = inspect(out, "t.wat");  // validates, or throws
  ASSERT_EQ(info.imports.size(), 3u);
  EXPECT_EQ(info.imports[0].name, "y");
  EXPECT_EQ(info.imports[1].module, "theater");
  EXPECT_EQ(info.imports[1].name, kFuelImport);
  EXPECT_EQ(info.imports[2].name, kGrowImport);
  EXPECT_EQ(stats.fuel_checks, 4u + 3u);  // 4 functions, 3 loops
  EXPECT_EQ(stats.grows_routed, 1u);
  bool fuel_exported = false;
  for (const auto& e : info.other_exports) fuel_exported |= e == kFuelExport;
  EXPECT_TRUE(fuel_exported);
  // Exports still name the same functions (same signatures after the shift).
  ASSERT_NE(info.find_function("a"), nullptr);
  EXPECT_EQ(info.find_function("a")->sig.str(), "() -> i32");
  EXPECT_EQ(info.find_function("grow")->sig.str(), "() -> i32");
}

TEST(Instrument, IsDeterministic) {
  auto wasm = test::wat_to_wasm(R"((module (func (export "f") (loop (nop)))))");
  EXPECT_EQ(instrument(wasm, "a"), instrument(wasm, "b"));
}

TEST(Inspect, DescribesImportsExportsAndMemory) {
  auto info = inspect(test::wat_to_wasm(R"((module
    (import "m" "f" (func (param i64 f32) (result f64)))
    (memory (export "memory") 2 9)
    (global (export "g") i32 (i32.const 1))
    (func (export "h") (param i32 i32) (result i32) (local.get 0))))"), "x.wat");
  ASSERT_EQ(info.imports.size(), 1u);
  EXPECT_EQ(info.imports[0].sig.str(), "(i64, f32) -> f64");
  EXPECT_EQ(info.functions[0].sig.str(), "(i32, i32) -> i32");
  EXPECT_TRUE(info.exports_memory);
  EXPECT_EQ(info.memory_initial_pages, 2u);
  EXPECT_EQ(info.memory_max_pages, 9u);
  EXPECT_EQ(info.sha256.size(), 64u);
  EXPECT_EQ(FuncSig{}.str(), "() -> ()");
}

TEST(Inspect, RefusesSharedMemoryNamingThreads) {
  try {
    inspect(test::wat_to_wasm("(module (memory 1 1 shared))", "--enable-threads"), "t.wasm");
    FAIL();
  } catch (const LoadError& e) {
    EXPECT_NE(std::string(e.what()).find("threads"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace theater::engine
