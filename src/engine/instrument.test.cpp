#include "engine/instrument.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <functional>

#include <fmt/format.h>

#include "engine/engine.hpp"
#include "engine/wabt_util.hpp"
#include "support/wat.hpp"

namespace theater::engine {
namespace {

using test::run_wabt_tool;
using test::wasm_to_wat;
using test::wat_to_wasm;

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

size_t count(const std::string& haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// Runs every exported function in wabt's interpreter; imports are stubs that log their calls
// ("called host theater.__memory_grow(i32:1) => i32:0") and return zeros.
std::string run_all_exports(std::span<const uint8_t> wasm) {
  auto r = run_wabt_tool("wasm-interp", wasm, {"--run-all-exports", "--dummy-import-func"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

void expect_wasm_validate_accepts(std::span<const uint8_t> wasm) {
  auto r = run_wabt_tool("wasm-validate", wasm);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// Every way a module can refer to a function by index, each observable through an export.
constexpr std::string_view kIndexUser = R"((module
  (import "x" "y" (func $imp (param i32) (result i32)))
  (type $to_i32 (func (result i32)))
  (table $t 4 funcref)
  (memory 1)
  (global $started (mut i32) (i32.const 0))
  (global $fref funcref (ref.func $seven))
  (elem (i32.const 0) $one $two)
  (elem (i32.const 2) funcref (ref.func $three) (ref.null func))
  (elem $passive funcref (ref.func $four))
  (elem declare func $five)
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func $three (result i32) (i32.const 3))
  (func $four (result i32) (i32.const 4))
  (func $five (result i32) (i32.const 5))
  (func $seven (result i32) (i32.const 7))
  (func $init (global.set $started (i32.const 42)))
  (start $init)
  (func $slot (param i32) (result i32) (call_indirect (type $to_i32) (local.get 0)))
  (func (export "direct") (result i32) (i32.add (call $two) (call $three)))
  (func (export "indirect") (result i32)
    (i32.add (i32.mul (call $slot (i32.const 0)) (i32.const 100))
             (i32.add (i32.mul (call $slot (i32.const 1)) (i32.const 10)) (call $slot (i32.const 2)))))
  (func (export "passive") (result i32)
    (table.init $t $passive (i32.const 3) (i32.const 0) (i32.const 1))
    (call $slot (i32.const 3)))
  (func (export "ref_func") (result i32)
    (table.set $t (i32.const 3) (ref.func $five))
    (call $slot (i32.const 3)))
  (func (export "global_ref") (result i32)
    (table.set $t (i32.const 3) (global.get $fref))
    (call $slot (i32.const 3)))
  (func $nested (param i32) (result i32)
    (block (result i32)
      (if (result i32) (local.get 0)
        (then (loop (result i32) (call $two)))
        (else (call $slot (i32.const 0))))))
  (func (export "nested_then") (result i32) (call $nested (i32.const 1)))
  (func (export "nested_else") (result i32) (call $nested (i32.const 0)))
  (func (export "started") (result i32) (global.get $started))
  (func (export "import") (result i32) (call $imp (i32.const 9)))
  (export "reexported" (func $four))
))";

// ---- structure ---------------------------------------------------------------------------------

// The rules for where checks go, on the module as written: no loop unrolled, no function copied
// (those have tests of their own, in unroll.test.cpp).
constexpr InstrumentOptions kAsWritten{.unroll = false};

TEST(Instrument, PutsTheHostImportsFirst) {
  auto out = instrument(wat_to_wasm(kIndexUser), "t.wat");
  const auto info = inspect(out, "t.wat");  // validates, or throws
  ASSERT_EQ(info.imports.size(), 3u);
  EXPECT_EQ(info.imports[0].module, kHostModule);
  EXPECT_EQ(info.imports[0].name, kFuelImport);
  EXPECT_EQ(info.imports[0].sig.str(), "(i32) -> i32");
  EXPECT_EQ(info.imports[1].module, kHostModule);
  EXPECT_EQ(info.imports[1].name, kGrowImport);
  EXPECT_EQ(info.imports[1].sig.str(), "(i32) -> i32");
  EXPECT_EQ(info.imports[2].module, "x");
  EXPECT_EQ(info.imports[2].name, "y");
}

TEST(Instrument, OutputValidatesForAnIndependentValidator) {
  expect_wasm_validate_accepts(instrument(wat_to_wasm(kIndexUser), "t.wat"));
}

TEST(Instrument, ExportsAMutableFuelGlobalAfterAllOthers) {
  // One imported and one defined global: the fuel counter must be global 2, and the module's
  // own global.get 0 / global.get 1 must still mean what they meant.
  auto out = instrument(wat_to_wasm(R"((module
    (import "env" "g" (global $g i32))
    (global $h i32 (i32.const 5))
    (func (export "f") (result i32) (i32.add (global.get $g) (global.get $h)))))"), "t.wat");
  const auto wat = wasm_to_wat(out);
  EXPECT_TRUE(contains(wat, "(global (;2;) (mut i32) (i32.const 10000))")) << wat;
  EXPECT_TRUE(contains(wat, R"((export "__theater_fuel" (global 2)))")) << wat;
  EXPECT_TRUE(contains(wat, "global.get 0\n    global.get 1\n    i32.add")) << wat;
}

// The whole output for a small module: no check in a leaf without loops ($leaf); a leaf with a
// loop ($looper) counts in a local, loaded from the global at entry, decremented before the
// branch back to its loop head and stored back at the end; a function that calls ($f) only reads
// the global, when it branches back to its loop head (its br_if becomes an if around the check
// and a br) and before its call to itself, but not before its call to $leaf (a callee that makes
// no calls cannot start a cycle). Plus the memory.grow call, the new
// imports, global and export.
TEST(Instrument, WritesTheDocumentedCode) {
  auto out = instrument(wat_to_wasm(R"((module (memory 1)
    (func $leaf)
    (func $looper (loop $l (br_if $l (i32.const 0))))
    (func $f (export "f") (result i32)
      (call $leaf) (loop $l (br_if $l (i32.const 0))) (drop (call $f)) (memory.grow (i32.const 1)))))"),
                        "t.wat", nullptr, kAsWritten);
  EXPECT_EQ(wasm_to_wat(out), R"((module
  (type (;0;) (func))
  (type (;1;) (func (result i32)))
  (type (;2;) (func (param i32) (result i32)))
  (import "theater" "__fuel_exhausted" (func (;0;) (type 2)))
  (import "theater" "__memory_grow" (func (;1;) (type 2)))
  (func (;2;) (type 0))
  (func (;3;) (type 0)
    (local i32)
    global.get 0
    local.set 0
    block  ;; label = @1
      loop  ;; label = @2
        i32.const 0
        local.get 0
        i32.const 1
        i32.sub
        local.tee 0
        i32.const 0
        i32.lt_s
        if  ;; label = @3
          local.get 0
          call 0
          local.set 0
        end
        br_if 0 (;@2;)
      end
    end
    local.get 0
    global.set 0)
  (func (;4;) (type 1) (result i32)
    call 2
    loop  ;; label = @1
      i32.const 0
      if  ;; label = @2
        global.get 0
        i32.const 0
        i32.lt_s
        if  ;; label = @3
          global.get 0
          call 0
          global.set 0
        end
        br 1 (;@1;)
      end
    end
    global.get 0
    i32.const 0
    i32.lt_s
    if  ;; label = @1
      global.get 0
      call 0
      global.set 0
    end
    call 4
    drop
    i32.const 1
    call 1)
  (memory (;0;) 1)
  (global (;0;) (mut i32) (i32.const 10000))
  (export "f" (func 4))
  (export "__theater_fuel" (global 0)))
)");
}

TEST(Instrument, CountsAFuelCheckPerFunctionAndBackEdge) {
  InstrumentStats stats;
  instrument(wat_to_wasm(R"((module
    (func $a (loop $outer (block (loop $inner (br_if $inner (i32.const 0)))) (br_if $outer (i32.const 0))))
    (func $b (if (i32.const 1) (then (nop)) (else (loop (nop)))))
    (func $c (param i32)
      (loop $l (block $out
        (br_table $l $out $l (local.get 0))
        (br_if $out (local.get 0))
        (br $l))))))"), "t.wat", &stats);
  // $a: two back edges (a branch out of the inner loop is not one); $b: a loop that never
  // repeats; $c: the br_table (once, though it names the loop twice), and not the br after it:
  // every way to that br passed the br_table's check. Nothing calls.
  EXPECT_EQ(stats.fuel_checks, 3u);
  instrument(wat_to_wasm(R"((module
    (func $a (call $b) (loop $l (br $l)))
    (func $b (if (i32.const 1) (then (call $a))))))"), "t.wat", &stats);
  // The back edge, and one of the two calls: each closes the cycle $a -> $b -> $a.
  EXPECT_EQ(stats.fuel_checks, 2u);
  EXPECT_EQ(stats.grows_routed, 0u);
}

// Checked calls: those that close a cycle (recursion), and those to the host (which may call
// back in, as theater_alloc is called). A callee without calls, with or without loops (those
// count their own fuel), needs no check, nor does a call that is on no cycle.
TEST(Instrument, ChecksTheCallsThatCloseACycle) {
  InstrumentStats stats;
  instrument(wat_to_wasm(R"((module
    (import "env" "host" (func $host))
    (func $leaf)
    (func $looper (loop $l (br_if $l (i32.const 0))))
    (func $f (call $leaf) (call $looper) (call $leaf))
    (func $g (call $f) (call $g))
    (func $h (call $host))))"), "t.wat", &stats);
  EXPECT_EQ(stats.fuel_checks, 3u);  // $looper's back edge; $g's call to itself; $h's to the host
  // A recursive-descent parser: sum -> product -> factor -> sum. One call closes the cycle.
  instrument(wat_to_wasm(R"((module
    (func $sum (result i32) (i32.add (call $product) (call $product)))
    (func $product (result i32) (i32.mul (call $factor) (call $factor)))
    (func $factor (result i32) (if (result i32) (i32.const 0) (then (call $sum)) (else (i32.const 1))))
    (func (export "parse") (result i32) (call $sum))))"), "t.wat", &stats);
  EXPECT_EQ(stats.fuel_checks, 1u);
}

// Calls on no cycle can still multiply: each of f0..f5 calls the next twice, 2^6 activations
// with no check between them. A function whose unchecked calls could run more than 16 gets its
// calls checked: f2 would run 1 + 2 * 7 = 15 (f5 1, f4 3, f3 7), f1 31, so f1's calls are
// checked (the first one planted, the second covered by it: at most 15 activations each), and
// f0 runs 1 + 2 * 1.
TEST(Instrument, BoundsTheCallsBetweenTwoChecks) {
  InstrumentStats stats;
  instrument(wat_to_wasm(R"((module
    (func $leaf)
    (func $f5 (call $leaf))
    (func $f4 (call $f5) (call $f5))
    (func $f3 (call $f4) (call $f4))
    (func $f2 (call $f3) (call $f3))
    (func $f1 (call $f2) (call $f2))
    (func $f0 (export "f0") (call $f1) (call $f1))))"), "t.wat", &stats);
  EXPECT_EQ(stats.fuel_checks, 1u);
}

// Once an activation has passed a check, its later calls need none: fib checks before its first
// recursive call, not its second. In a loop, the back edge keeps its check for the later
// iterations, as a check before the loop covers only the first.
TEST(Instrument, ACheckCoversTheRestOfItsActivation) {
  InstrumentStats stats;
  instrument(wat_to_wasm(R"((module
    (func $fib (param $n i32) (result i32)
      (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
        (then (local.get $n))
        (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                       (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
    (func $walk (param $n i32)
      (call $walk (local.get $n))
      (loop $l (call $walk (local.get $n)) (br_if $l (local.get $n))))))"), "t.wat", &stats, kAsWritten);
  // $fib: its first call. $walk: its first call, and its loop's back edge (the call in the
  // loop is covered by the first call's check in the first iteration, by the back edge's in
  // the later ones).
  EXPECT_EQ(stats.fuel_checks, 3u);
}

// call_indirect checks only if the table may hold a function of the call's type that calls on.
// Only a ref.func can put a function in a table, so the functions named by one are the candidates.
TEST(Instrument, ChecksACallThroughATableByTheTypesItMayReach) {
  InstrumentStats stats;
  instrument(wat_to_wasm(R"((module
    (type $v (func))
    (type $i (func (param i32)))
    (table 3 funcref)
    (elem (i32.const 0) $leaf $caller)
    (func $leaf)
    (func $caller (param i32) (call $leaf))
    (func $other (param i32) (call $other (local.get 0)))
    (func (export "by_v") (call_indirect (type $v) (i32.const 0)))
    (func (export "by_i") (call_indirect (type $i) (i32.const 7) (i32.const 1)))))"), "t.wat", &stats);
  // by_v: only $leaf has type $v, no check; by_i: $caller may be called, a check; $other's call
  // to itself, a check ($other is in no table, which is why by_i's check is for $caller).
  EXPECT_EQ(stats.fuel_checks, 2u);
  auto out = instrument(wat_to_wasm(R"((module
    (type $v (func))
    (table 1 funcref)
    (func $leaf)
    (func $caller (call $leaf))
    (func (export "by_v") (call_indirect (type $v) (i32.const 0)))
    (elem declare func $caller)
    (func (export "take") (result funcref) (ref.func $caller))))"), "t.wat", &stats);
  EXPECT_EQ(stats.fuel_checks, 1u);  // $caller's reference is taken: it may be in the table
}

// A loop whose iterations all pass a checked call needs no check of its own at its back edge;
// one whose call is only on some paths keeps it.
TEST(Instrument, ABackEdgeAfterACheckedCallIsNotCheckedAgain) {
  InstrumentStats stats;
  instrument(wat_to_wasm(R"((module
    (func $r (param i32) (result i32)
      (loop $l
        (drop (call $r (local.get 0)))
        (block $b (br_if $l (local.get 0))))
      (loop $m
        (if (local.get 0) (then (drop (call $r (local.get 0)))))
        (br_if $m (local.get 0)))
      (i32.const 0))))"), "t.wat", &stats, kAsWritten);
  // $l: the call's check covers the br_if nested after it; $m: the call's, and the back edge's.
  EXPECT_EQ(stats.fuel_checks, 3u);
}

TEST(Instrument, RoutesEveryMemoryGrow) {
  InstrumentStats stats;
  auto out = instrument(wat_to_wasm(R"((module (memory 1)
    (func (export "f") (result i32)
      (drop (memory.grow (i32.const 1)))
      (block (result i32) (if (result i32) (i32.const 1)
        (then (memory.grow (i32.const 2))) (else (memory.grow (i32.const 3))))))))"), "t.wat", &stats);
  EXPECT_EQ(stats.grows_routed, 3u);
  const auto wat = wasm_to_wat(out);
  EXPECT_FALSE(contains(wat, "memory.grow")) << wat;
  EXPECT_EQ(count(wat, "call 1\n"), 3u) << wat;
}

TEST(Instrument, KeepsLoopsWithParametersValid) {
  auto out = instrument(wat_to_wasm(R"((module
    (func (export "f") (param i32) (result i32)
      (local.get 0)
      (loop (param i32) (result i32) (i32.const 1) (i32.sub) (local.tee 0) (br_if 0 (local.get 0))))))"),
                        "t.wat");
  expect_wasm_validate_accepts(out);
}

TEST(Instrument, DropsTheNameSection) {
  auto wasm = wat_to_wasm(R"((module (func $named (export "f") (local $x i32))))", "--debug-names");
  ASSERT_TRUE(contains(run_wabt_tool("wasm-objdump", wasm, {"-h"}).output, "\"name\""));
  auto r = run_wabt_tool("wasm-objdump", instrument(wasm, "t.wat"), {"-h"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(contains(r.output, "Custom")) << r.output;
}

TEST(Instrument, IsDeterministic) {
  auto wasm = wat_to_wasm(kIndexUser);
  EXPECT_EQ(instrument(wasm, "a"), instrument(wasm, "b"));
}

TEST(Instrument, RefusesAModuleThatExportsTheFuelName) {
  auto wasm = wat_to_wasm(R"((module (global (export "__theater_fuel") i32 (i32.const 0))))");
  try {
    instrument(wasm, "t.wat");
    FAIL() << "accepted";
  } catch (const LoadError& e) {
    EXPECT_STREQ(e.what(), "t.wat: exports \"__theater_fuel\", a name the engine reserves for itself");
  }
}

TEST(Instrument, RefusesWhatInspectRefuses) {
  const uint8_t not_wasm[] = {'h', 'i', '!', '!', 0, 0, 0, 0};
  EXPECT_THROW(instrument(not_wasm, "t.wat"), LoadError);
}

// ---- behaviour ---------------------------------------------------------------------------------

TEST(Instrument, RenumberedModuleComputesTheSameResults) {
  const auto wasm = wat_to_wasm(kIndexUser);
  const auto expected =
      "direct() => i32:5\n"
      "indirect() => i32:123\n"
      "passive() => i32:4\n"
      "ref_func() => i32:5\n"
      "global_ref() => i32:7\n"
      "nested_then() => i32:2\n"
      "nested_else() => i32:1\n"
      "started() => i32:42\n"
      "called host x.y(i32:9) => i32:0\n"
      "import() => i32:0\n"
      "reexported() => i32:4\n";
  ASSERT_EQ(run_all_exports(wasm), expected);  // the test itself is right
  // Fuel starts at 10000, so these short calls never reach the fuel import.
  EXPECT_EQ(run_all_exports(instrument(wasm, "t.wat")), expected);
}

TEST(Instrument, CallsTheHostWhenFuelRunsOut) {
  // 10000 units of fuel: the loop's back edge takes 10100 (a leaf has no entry check; in a leaf
  // the check before the br_if also runs when it falls through). Unrolled eight times
  // (unroll.hpp), the loop passes its check 1262 times, 8 units each (its last 4 iterations
  // leave from inside the copies): 10096 units, so the last 12 passes each call the (stub) fuel
  // handler with -8, and it returns no new fuel.
  auto out = instrument(wat_to_wasm(R"((module
    (func (export "spin") (result i32) (local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 10100))))
      (local.get $i))))"), "t.wat");
  const auto output = run_all_exports(out);
  EXPECT_TRUE(contains(output, "spin() => i32:10100\n")) << output;
  // (wasm-interp prints the -8 left as unsigned)
  EXPECT_EQ(count(output, "called host theater.__fuel_exhausted(i32:4294967288) => i32:0\n"), 12u);
  EXPECT_EQ(count(output, "called host"), 12u);
}

TEST(Instrument, MemoryGrowCallsTheHost) {
  auto out = instrument(wat_to_wasm(R"((module (memory 1)
    (func (export "grow") (result i32) (memory.grow (i32.const 3)))))"), "t.wat");
  EXPECT_EQ(run_all_exports(out),
            "called host theater.__memory_grow(i32:3) => i32:0\n"
            "grow() => i32:0\n");
}

}  // namespace
}  // namespace theater::engine

namespace theater::engine {
namespace {

// Runs fn on a thread with only `stack_bytes` of stack, as a host call may have left.
void on_small_stack(size_t stack_bytes, const std::function<void()>& fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes);
  auto body = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attr, body, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

// Nesting is refused past kMaxNesting with an error that says so, however deep (200,000 levels
// crashed the process in a recursive walk, wabt's writer and wabt's destructors), and a module
// at the limit is instrumented even from a thread with 256 KiB of stack: the work moves to a
// thread with room (run_with_stack).
TEST(Instrument, RefusesNestingPastTheLimitAndNeedsNoDeepStack) {
  for (size_t depth : {kMaxNesting + 1, size_t{200000}, size_t{2000000}}) {
    try {
      instrument(test::deeply_nested_module(depth), "deep.wasm");
      ADD_FAILURE() << depth << " levels were accepted";
    } catch (const LoadError& e) {
      EXPECT_EQ(std::string(e.what()), fmt::format("deep.wasm: function 0 nests blocks {} deep; the engine allows "
                                                   "at most {}", depth, kMaxNesting));
    }
  }
  std::vector<uint8_t> out;
  on_small_stack(256 << 10, [&] {
    out = instrument(test::deeply_nested_module(kMaxNesting), "deep.wasm");
    EXPECT_EQ(inspect(out, "deep.wasm").imports.size(), 2u);  // (the fuel and memory imports)
    EXPECT_THROW(inspect(test::deeply_nested_module(kMaxNesting + 1), "deep.wasm"), LoadError);
  });
  EXPECT_FALSE(out.empty());
}

}  // namespace
}  // namespace theater::engine
