#include <gtest/gtest.h>

#include <cstring>

#include "base/sha256.hpp"
#include "engine/engine.hpp"
#include "support/wat.hpp"

namespace theater::engine {
namespace {

using test::wat_to_wasm;

// The LoadError message inspect() throws; fails the test if it does not throw.
std::string load_error(std::span<const uint8_t> wasm, std::string_view label = "t.wasm") {
  try {
    inspect(wasm, label);
  } catch (const LoadError& e) {
    return e.what();
  }
  ADD_FAILURE() << "inspect accepted the module";
  return "";
}

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- refusals ----------------------------------------------------------------------------------

TEST(Inspect, RefusesBytesThatAreNotWasm) {
  EXPECT_EQ(load_error(bytes("#!/bin/sh\necho hello\n")), "t.wasm: not a WebAssembly module (bad magic)");
  EXPECT_EQ(load_error(bytes("\x7f" "ELF")), "t.wasm: not a WebAssembly module (bad magic)");
  EXPECT_EQ(load_error(bytes("")), "t.wasm: not a WebAssembly module (empty input)");
}

TEST(Inspect, CallsACutOffHeaderTruncated) {
  const auto wasm = wat_to_wasm("(module)");
  for (size_t n = 1; n < wasm.size(); ++n) {
    EXPECT_TRUE(contains(load_error(std::span(wasm).first(n)), "t.wasm: truncated")) << n << " bytes";
  }
}

TEST(Inspect, CallsAModuleCutInsideASectionTruncated) {
  const auto wasm = wat_to_wasm(R"((module
    (import "env" "f" (func $f (param i32) (result i32)))
    (memory (export "memory") 1)
    (func (export "run") (param i32) (result i32) (call $f (local.get 0)))
    (data (i32.const 0) "hello")))");
  ASSERT_NO_THROW(inspect(wasm, "t.wasm"));
  // Cutting between two sections can leave a shorter valid module; any other cut is "truncated".
  int truncated = 0;
  for (size_t n = 8; n < wasm.size(); ++n) {
    try {
      inspect(std::span(wasm).first(n), "t.wasm");
    } catch (const LoadError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("t.wasm: ", 0), 0u) << what;
      truncated += contains(what, "truncated");
    }
  }
  EXPECT_GT(truncated, static_cast<int>(wasm.size()) / 2);
  EXPECT_TRUE(contains(load_error(std::span(wasm).first(wasm.size() - 3)), "t.wasm: truncated module"));
}

TEST(Inspect, RefusesSimdNamingIt) {
  auto wasm = wat_to_wasm(R"((module (func (export "f") (drop (v128.const i64x2 1 2)))))");
  EXPECT_EQ(load_error(wasm, "counter.wasm"),
            "counter.wasm: uses the WebAssembly feature SIMD (v128), which this engine does not support");
}

TEST(Inspect, RefusesSharedMemoryNamingThreads) {
  auto wasm = wat_to_wasm("(module (memory 1 1 shared))", "--enable-threads");
  EXPECT_TRUE(contains(load_error(wasm), "t.wasm: uses the WebAssembly feature threads")) << load_error(wasm);
}

TEST(Inspect, RefusesAtomicsNamingThreads) {
  auto wasm = wat_to_wasm(R"((module (memory 1)
    (func (export "f") (result i32) (i32.atomic.load (i32.const 0)))))", "--enable-threads");
  EXPECT_TRUE(contains(load_error(wasm), "threads (shared memory, atomics)")) << load_error(wasm);
}

TEST(Inspect, RefusesTailCallsNamingThem) {
  auto wasm = wat_to_wasm(R"((module (func $f (return_call $f))))", "--enable-tail-call");
  EXPECT_TRUE(contains(load_error(wasm), "feature tail calls")) << load_error(wasm);
}

TEST(Inspect, NamesEveryUnsupportedFeatureAModuleUses) {
  auto wasm = wat_to_wasm(R"((module (memory 1 1 shared)
    (func (export "f") (drop (v128.const i64x2 1 2)))))", "--enable-threads");
  EXPECT_EQ(load_error(wasm),
            "t.wasm: uses the WebAssembly features SIMD (v128), threads (shared memory, atomics), "
            "which this engine does not support");
}

TEST(Inspect, ReportsValidationErrorsInWabtsWords) {
  auto wasm = wat_to_wasm(R"((module (func (export "f") (result i32))))", "--no-check");
  const auto what = load_error(wasm);
  EXPECT_EQ(what.rfind("t.wasm: ", 0), 0u) << what;
  EXPECT_TRUE(contains(what, "type mismatch")) << what;
}

TEST(Inspect, RefusesReferenceTypesInExportedSignatures) {
  auto wasm = wat_to_wasm(R"((module (func (export "f") (param externref))))");
  EXPECT_EQ(load_error(wasm), "t.wasm: export f uses type externref in its signature, which actors cannot use");
}

// ---- description -------------------------------------------------------------------------------

TEST(Inspect, DescribesImportsAndExportsOfEveryKind) {
  const auto wasm = wat_to_wasm(R"((module
    (import "m" "f" (func (param i64 f32) (result f64)))
    (import "env" "table" (table 1 funcref))
    (import "env" "g" (global i32))
    (import "m" "h" (func))
    (import "env" "mem" (memory 3))
    (global (export "counter") (mut i32) (i32.const 1))
    (func $h (export "h") (param i32 i32) (result i32) (local.get 0))
    (func (export "pair") (result i32 i64) (i32.const 1) (i64.const 2))
    (export "tbl" (table 0))
    (export "memory" (memory 0))))");
  const auto info = inspect(wasm, "x.wasm");

  ASSERT_EQ(info.imports.size(), 2u);  // function imports only, in import order
  EXPECT_EQ(info.imports[0].module, "m");
  EXPECT_EQ(info.imports[0].name, "f");
  EXPECT_EQ(info.imports[0].sig, (FuncSig{{ValType::I64, ValType::F32}, {ValType::F64}}));
  EXPECT_EQ(info.imports[1].name, "h");
  EXPECT_EQ(info.imports[1].sig, FuncSig{});
  EXPECT_EQ(info.other_imports,
            (std::vector<std::string>{"env.table (table)", "env.g (global)", "env.mem (memory)"}));

  ASSERT_EQ(info.functions.size(), 2u);
  EXPECT_EQ(info.functions[0].name, "h");
  EXPECT_EQ(info.functions[0].sig.str(), "(i32, i32) -> i32");
  EXPECT_EQ(info.functions[1].sig.str(), "() -> (i32, i64)");
  EXPECT_EQ(info.other_exports, (std::vector<std::string>{"counter", "tbl", "memory"}));
  EXPECT_TRUE(info.exports_memory);

  EXPECT_EQ(info.memory_initial_pages, 3u);  // the imported memory
  EXPECT_EQ(info.memory_max_pages, UINT32_MAX);
  EXPECT_EQ(info.sha256, sha256_hex(wasm));
  EXPECT_EQ(info.find_function("pair"), &info.functions[1]);
  EXPECT_EQ(info.find_function("counter"), nullptr);
}

TEST(Inspect, ReportsDeclaredMemoryLimits) {
  auto info = inspect(wat_to_wasm("(module (memory 2 9))"), "t.wasm");
  EXPECT_EQ(info.memory_initial_pages, 2u);
  EXPECT_EQ(info.memory_max_pages, 9u);
  EXPECT_FALSE(info.exports_memory);  // not exported at all

  info = inspect(wat_to_wasm("(module)"), "t.wasm");
  EXPECT_EQ(info.memory_initial_pages, 0u);
  EXPECT_EQ(info.memory_max_pages, UINT32_MAX);
}

TEST(Inspect, ExportsMemoryOnlyForAMemoryNamedMemory) {
  EXPECT_FALSE(inspect(wat_to_wasm(R"((module (memory (export "mem") 1)))"), "t").exports_memory);
  EXPECT_FALSE(inspect(wat_to_wasm(R"((module (memory 1) (func (export "memory"))))"), "t").exports_memory);
  EXPECT_FALSE(inspect(wat_to_wasm(R"((module (global (export "memory") i32 (i32.const 0))))"), "t")
                   .exports_memory);
}

// ---- small helpers of engine.hpp ---------------------------------------------------------------

TEST(FuncSig, FormatsParamsAndResults) {
  EXPECT_EQ(FuncSig{}.str(), "() -> ()");
  EXPECT_EQ((FuncSig{{ValType::I32, ValType::I32}, {ValType::I32}}).str(), "(i32, i32) -> i32");
  EXPECT_EQ((FuncSig{{ValType::F64}, {}}).str(), "(f64) -> ()");
  EXPECT_EQ((FuncSig{{}, {ValType::I64, ValType::F32}}).str(), "() -> (i64, f32)");
}

TEST(EngineNames, TrapKindsAndTiers) {
  EXPECT_STREQ(to_string(TrapKind::Timeout), "timeout");
  EXPECT_STREQ(to_string(TrapKind::MemoryLimit), "memory-limit");
  EXPECT_STREQ(to_string(Tier::Aot), "aot");
  EXPECT_STREQ(to_string(Tier::Interp), "interp");
}

uint64_t host_stub(Instance&, const uint64_t*) { return 0; }

TEST(Linker, FindsWhatWasDefined) {
  Linker linker;
  linker.define("env", "f", FuncSig{{ValType::I32}, {}}, host_stub);
  linker.define("env", "g", FuncSig{}, host_stub);
  ASSERT_NE(linker.find("env", "f"), nullptr);
  EXPECT_EQ(linker.find("env", "f")->sig.str(), "(i32) -> ()");
  EXPECT_EQ(linker.find("env", "g")->fn, &host_stub);
  EXPECT_EQ(linker.find("env", "h"), nullptr);
  EXPECT_EQ(linker.find("other", "f"), nullptr);
  EXPECT_EQ(linker.all().size(), 2u);
}

// An Instance over a plain buffer, for the bounds-checked memory helpers.
class BufferInstance : public Instance {
 public:
  explicit BufferInstance(size_t size) : bytes_(size) {}
  bool has_function(std::string_view) const override { return false; }
  std::optional<Trap> call(std::string_view, std::span<const uint64_t>, std::span<uint64_t>) override {
    return Trap{TrapKind::Host, "no code"};
  }
  std::span<uint8_t> memory() override { return bytes_; }
  std::optional<uint32_t> grow_memory(uint32_t) override { return std::nullopt; }
  uint32_t declared_max_pages() const override { return UINT32_MAX; }
  void set_fuel(int32_t) override {}
  void interrupt() override {}

 private:
  std::vector<uint8_t> bytes_;
};

TEST(InstanceMemory, ChecksBoundsWithoutOverflow) {
  BufferInstance instance(16);
  EXPECT_TRUE(instance.in_bounds(0, 16));
  EXPECT_TRUE(instance.in_bounds(16, 0));
  EXPECT_FALSE(instance.in_bounds(17, 0));
  EXPECT_FALSE(instance.in_bounds(1, 16));
  // ptr + len wraps to 0x10 in 32 bits: must still be out of bounds.
  EXPECT_FALSE(instance.in_bounds(0xFFFFFFF0u, 0x20));
  EXPECT_FALSE(instance.read_bytes(0xFFFFFFFFu, 2));
  EXPECT_FALSE(instance.write_u32(0xFFFFFFFEu, 1));
}

TEST(InstanceMemory, ReadsAndWritesInside) {
  BufferInstance instance(16);
  const uint8_t hello[] = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_TRUE(instance.write_bytes(3, hello));
  EXPECT_EQ(instance.read_bytes(3, 5), "hello");
  EXPECT_TRUE(instance.write_u32(12, 0x04030201));
  EXPECT_EQ(instance.read_bytes(12, 4), std::string("\x01\x02\x03\x04"));
  EXPECT_FALSE(instance.write_u32(13, 0));  // would end at 17
  EXPECT_FALSE(instance.write_bytes(12, hello));
  EXPECT_TRUE(instance.write_bytes(16, {}));
  EXPECT_EQ(instance.read_bytes(16, 0), "");
}

}  // namespace
}  // namespace theater::engine
