#include "engine/unroll.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>

#include <wabt/binary-writer.h>
#include <wabt/stream.h>

#include <fmt/format.h>

#include "engine/instrument.hpp"
#include "engine/wabt_util.hpp"
#include "support/wat.hpp"

namespace theater::engine {
namespace {

using test::run_wabt_tool;
using test::wasm_to_wat;
using test::wat_to_wasm;
using wabt::Index;

size_t lots = size_t{1} << 40;  // a budget for copies that these small modules never reach

// The exports' results in wabt's interpreter (the fuel import is a stub that returns 0: fuel
// never runs out in these short runs, and a call to it would show in the output).
std::string results(std::span<const uint8_t> wasm) {
  auto r = run_wabt_tool("wasm-interp", wasm, {"--run-all-exports", "--dummy-import-func"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// The module, read, changed by `change`, and written back (no instrumentation).
template <typename Change>
std::vector<uint8_t> changed(std::string_view wat, Change&& change) {
  wabt::Module m;
  read_module(wat_to_wasm(wat), "t.wat", &m);
  change(m);
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions options(supported_features(), true, false, false);
  EXPECT_TRUE(wabt::Succeeded(wabt::WriteBinaryModule(&stream, &m, options)));
  return std::move(stream.output_buffer().data);
}

// Loops of both shapes that leave from the middle of their body (out of a nested block, so a
// copy one level deeper must reach one more label), go round early, and run every number of
// rounds from 0 to 19, so that an unrolled loop leaves from each of its copies.
constexpr std::string_view kLoops = R"((module
  (memory 1)
  (func $while (param $n i32) (result i32) (local $i i32) (local $sum i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (block $skip
        (br_if $skip (i32.eq (local.get $i) (i32.const 5)))
        (local.set $sum (i32.add (i32.mul (local.get $sum) (i32.const 3)) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $sum))
  (func $do_while (param $n i32) (result i32) (local $i i32) (local $sum i32)
    (block $out (loop $l
      (if (i32.eq (local.get $i) (i32.const 13)) (then (br $out)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (if (i32.eq (local.get $i) (i32.const 3)) (then (br $l)))
      (local.set $sum (i32.add (i32.mul (local.get $sum) (i32.const 5)) (local.get $i)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
    (local.get $sum))
  (func $table (param $n i32) (result i32) (local $i i32)
    (block $out (loop $l
      (block $a (block $b
        (br_table $a $b $out (i32.rem_u (local.get $i) (i32.const 11))))
        (i32.store8 (local.get $i) (i32.const 1)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
    (local.get $i))
  (func (export "all") (result i32) (local $n i32) (local $acc i32)
    (loop $each
      (local.set $acc (i32.add (i32.mul (local.get $acc) (i32.const 7))
        (i32.add (call $while (local.get $n))
          (i32.add (call $do_while (local.get $n)) (call $table (local.get $n))))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $n) (i32.const 20))))
    (local.get $acc)))
)";

TEST(Unroll, UnrolledLoopsComputeWhatTheOriginalsCompute) {
  const std::string original = results(wat_to_wasm(kLoops));
  size_t unrolled = 0;
  const auto out = changed(kLoops, [&](wabt::Module& m) { unrolled = unroll_small_loops(m, lots).size(); });
  EXPECT_EQ(unrolled, 3u);  // $while, $do_while, $table; not "all" (it calls)
  EXPECT_EQ(results(out), original);
  // And through the whole instrumentation, fuel checks included.
  EXPECT_EQ(results(instrument(wat_to_wasm(kLoops), "t.wat")), original);
}

TEST(Unroll, WritesTheDocumentedShapes) {
  std::unordered_map<const wabt::LoopExpr*, uint32_t> unrolled;
  const auto out = changed(R"((module
    (func $while (local i32) (block $b (loop $l (br_if $b (local.get 0)) (br $l))))
    (func $do_while (local i32) (loop $l (block $x (br_if $x (local.get 0))) (br_if $l (local.get 0))))))",
                           [&](wabt::Module& m) { unrolled = unroll_small_loops(m, lots); });
  ASSERT_EQ(unrolled.size(), 2u);
  for (auto& [loop, factor] : unrolled) EXPECT_EQ(factor, 8u);
  const std::string wat = wasm_to_wat(out);
  // The while loop: the body (without its br) eight times, at its own level.
  std::string eight_times;
  for (int i = 0; i < 8; ++i) eight_times += "        local.get 0\n        br_if 1 (;@1;)\n";
  EXPECT_NE(wat.find("    block  ;; label = @1\n      loop  ;; label = @2\n" + eight_times +
                     "        br 0 (;@2;)\n      end\n    end)"),
            std::string::npos)
      << wat;
  // The do-while loop: each copy one `if` deeper; the branch to its own block stays 0, and the
  // last copy goes round with br_if 7.
  EXPECT_NE(wat.find(R"(    loop  ;; label = @1
      block  ;; label = @2
        local.get 0
        br_if 0 (;@2;)
      end
      local.get 0
      if  ;; label = @2
        block  ;; label = @3
          local.get 0
          br_if 0 (;@3;)
        end
        local.get 0
        if  ;; label = @3)"), std::string::npos) << wat;
  EXPECT_NE(wat.find(R"(
                    local.get 0
                    br_if 7 (;@1;)
                  end
                end
)"), std::string::npos) << wat;
}

// Eight copies up to 16 expressions in the body, four up to 32, none past that; and none for a
// loop that calls, holds a loop, takes or gives values, or does not end by going round.
TEST(Unroll, UnrollsOnlySmallPlainLoops) {
  auto factors = [](std::string_view funcs) {
    std::vector<uint32_t> out;
    changed(fmt::format("(module (memory 1) (table 1 funcref) (func $leaf) {})", funcs), [&](wabt::Module& m) {
      for (auto& [loop, factor] : unroll_small_loops(m, lots)) out.push_back(factor);
    });
    return out;
  };
  auto adds = [](int n) {  // n + 1 expressions: (local.set 0 (i32.const 1)) is 2, a br_if 2 more
    std::string out;
    for (int i = 0; i < n / 2; ++i) out += "(local.set 0 (i32.const 1))";
    return out;
  };
  // 14 + br_if's 2 = 16 expressions; 30 + 2 = 32; 32 + 2 = 34.
  EXPECT_EQ(factors("(func (local i32) (loop $l " + adds(14) + " (br_if $l (local.get 0))))"), std::vector<uint32_t>{8});
  EXPECT_EQ(factors("(func (local i32) (loop $l " + adds(16) + " (br_if $l (local.get 0))))"), std::vector<uint32_t>{4});
  EXPECT_EQ(factors("(func (local i32) (loop $l " + adds(30) + " (br_if $l (local.get 0))))"), std::vector<uint32_t>{4});
  EXPECT_TRUE(factors("(func (local i32) (loop $l " + adds(32) + " (br_if $l (local.get 0))))").empty());
  EXPECT_TRUE(factors("(func (local i32) (loop $l (call $leaf) (br_if $l (local.get 0))))").empty());
  EXPECT_TRUE(factors("(func (local i32) (loop $l (loop $k (br_if $k (local.get 0))) (br_if $l (local.get 0))))").size() == 1);
  EXPECT_TRUE(factors("(func (result i32) (local i32) (loop $l (result i32) (i32.const 1) (br_if $l (local.get 0))))").empty());
  EXPECT_TRUE(factors("(func (param i32) (local.get 0) (loop $l (param i32) (result i32) (br_if $l (local.get 0))) (drop))").empty());
  EXPECT_TRUE(factors("(func (local i32) (loop $l (local.set 0 (i32.const 1))))").empty());  // no way round
  EXPECT_TRUE(factors("(func (loop $l (br $l)))").empty());                                   // nothing to copy
  // An expression clone_exprs does not copy (table.size) leaves its loop as it is.
  EXPECT_TRUE(factors("(func (local i32) (loop $l (drop (table.size 0)) (br_if $l (local.get 0))))").empty());
}

// A self-recursive function becomes a ring of four: only the call that closes it is checked,
// and it computes the same.
TEST(Unroll, SelfRecursionGoesRoundFourCopiesWithOneCheck) {
  constexpr std::string_view kFib = R"((module
    (func $fib (export "fib") (param $n i32) (result i32)
      (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
        (then (local.get $n))
        (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                       (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
    (func (export "fib20") (result i32) (call $fib (i32.const 20)))))";
  InstrumentStats stats;
  const auto out = instrument(wat_to_wasm(kFib), "fib.wat", &stats);
  EXPECT_EQ(stats.functions_cloned, 1u);
  EXPECT_EQ(stats.fuel_checks, 1u);  // (was one per level: the same count, on every call of fib)
  EXPECT_EQ(results(out), "fib20() => i32:6765\n");
  wabt::Module m;
  read_module(out, "out", &m);
  ASSERT_EQ(m.funcs.size(), 2u + 2u + 3u);  // the two host imports, fib, fib20, three copies
  // fib (2) -> copy (4) -> copy (5) -> copy (6) -> fib (2)
  auto callees = [&](Index f) {
    std::vector<Index> out;
    for_each_expr(m.funcs[f]->exprs, [&](wabt::Expr& e) {
      if (e.type() == wabt::ExprType::Call) out.push_back(wabt::cast<wabt::CallExpr>(&e)->var.index());
    });
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(callees(2), (std::vector<Index>{4, 4}));
  EXPECT_EQ(callees(4), (std::vector<Index>{5, 5}));
  EXPECT_EQ(callees(5), (std::vector<Index>{6, 6}));
  EXPECT_EQ(callees(6), (std::vector<Index>{0, 2, 2}));  // the fuel import (0), in the check
}

TEST(Unroll, CopiesOnlySmallSelfRecursion) {
  auto cloned = [](std::string_view funcs) {
    uint32_t n = 0;
    changed(fmt::format("(module {})", funcs), [&](wabt::Module& m) { n = clone_small_recursion(m, lots); });
    return n;
  };
  std::string big = "(func $big (param i32)";
  for (int i = 0; i < 31; ++i) big += " (local.set 0 (i32.const 1))";  // 62 expressions, + 2
  EXPECT_EQ(cloned(big + " (call $big (i32.const 0)))"), 1u);           // 64: copied
  EXPECT_EQ(cloned(big + " (nop) (call $big (i32.const 0)))"), 0u);     // 65: not
  EXPECT_EQ(cloned("(func $a (call $b)) (func $b (call $a))"), 0u);      // mutual: not
  EXPECT_EQ(cloned("(table 1 funcref) (func $t (drop (table.size 0)) (call $t))"), 0u);  // not copyable
}

// What the copies add stops at the budget: each copy fits whole or is not made.
TEST(Unroll, CopiesStopAtTheBudget) {
  constexpr std::string_view kThreeLoops = R"((module
    (func (local i32) (loop $l (local.set 0 (i32.const 1)) (br_if $l (local.get 0))))
    (func (local i32) (loop $l (local.set 0 (i32.const 1)) (br_if $l (local.get 0))))
    (func (local i32) (loop $l (local.set 0 (i32.const 1)) (br_if $l (local.get 0))))
    (func $r (call $r))))";
  // Each loop's body is 4 expressions, unrolled eight times: 28 added. $r is 1, copied 3 times.
  for (auto [budget, loops, rings, left] :
       {std::tuple<size_t, size_t, uint32_t, size_t>{100, 3, 1, 13}, {60, 2, 1, 1}, {2, 0, 0, 2}}) {
    size_t rest = budget;
    size_t unrolled = 0;
    uint32_t cloned = 0;
    changed(kThreeLoops, [&](wabt::Module& m) {
      cloned = clone_small_recursion(m, rest);
      unrolled = unroll_small_loops(m, rest).size();
    });
    EXPECT_EQ(unrolled, loops) << budget;
    EXPECT_EQ(cloned, rings) << budget;
    EXPECT_EQ(rest, left) << budget;
  }
  wabt::Module m;
  read_module(wat_to_wasm(kThreeLoops), "t.wat", &m);
  EXPECT_EQ(copy_budget(m), size_t{1} << 16);  // (13 expressions: the floor)
}

TEST(Unroll, CloneExprsCopiesDeeplyOrNotAtAll) {
  wabt::Module m;
  read_module(wat_to_wasm(R"((module (memory 1) (table 1 funcref)
    (func (param i32) (result i32)
      (block $b (result i32)
        (if (result i32) (local.get 0)
          (then (br_table $b $b (i32.const 1) (local.get 0)))
          (else (i32.load offset=8 (call_indirect (param i32) (result i32) (i32.const 2) (i32.const 0)))))))))"),
              "t.wat", &m);
  auto copy = clone_exprs(m.funcs[0]->exprs);
  ASSERT_TRUE(copy);
  // Put the copy in place of the original (freed): what the module says must not change.
  const std::string before = wasm_to_wat(changed(R"((module (memory 1) (table 1 funcref)
    (func (param i32) (result i32)
      (block $b (result i32)
        (if (result i32) (local.get 0)
          (then (br_table $b $b (i32.const 1) (local.get 0)))
          (else (i32.load offset=8 (call_indirect (param i32) (result i32) (i32.const 2) (i32.const 0)))))))))",
                                                 [](wabt::Module&) {}));
  m.funcs[0]->exprs = std::move(*copy);
  wabt::MemoryStream stream;
  ASSERT_TRUE(wabt::Succeeded(
      wabt::WriteBinaryModule(&stream, &m, wabt::WriteBinaryOptions(supported_features(), true, false, false))));
  EXPECT_EQ(wasm_to_wat(stream.output_buffer().data), before);

  wabt::Module tables;
  read_module(wat_to_wasm("(module (table 1 funcref) (func (drop (table.size 0))))"), "t.wat", &tables);
  EXPECT_FALSE(clone_exprs(tables.funcs[0]->exprs));
}

}  // namespace
}  // namespace theater::engine
