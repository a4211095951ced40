#pragma once
// Makes the fuel checks rarer on the hottest code by copying it: instrument() runs these on the
// module as read (before the renumbering and before any check is planted), and only when it
// plants checks. What the code computes does not change; only how often it passes a check.
//  - A small loop with no calls and no loop inside is unrolled (8 times up to 16 expressions, 4
//    up to 32): its body runs that many times between two passes over the back edge, where its
//    check sits, each copy still leaving the loop where the original would. A sieve's inner
//    loop, a copy or a scan otherwise pays a check (two instructions) every few instructions.
//  - A small function that calls itself gets kRecursionRing - 1 copies, and its calls to itself
//    go round them: f -> f1 -> f2 -> f3 -> f. The cycle is four calls long, and one of them
//    (f3's, where the walk in CallTargets closes it) is checked: fib checks once per four
//    levels instead of once per level. (Four: a function calling itself twice then runs 15
//    activations between checks, just under the 16 instrument.cpp allows.)
// Both only copy code made of the expressions clone_exprs knows, cap the size of what they copy,
// and stop when the expressions they have added reach a budget (copy_budget: a module that is all
// small loops must not grow eightfold on the way in).
#include <wabt/ir.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

namespace theater::engine {

inline constexpr uint32_t kRecursionRing = 4;

// A deep copy of `list` (indices as they are), or nothing if it holds an expression this does not
// copy (exceptions, atomics, table and reference operations other than ref.func / ref.null).
std::optional<wabt::ExprList> clone_exprs(const wabt::ExprList& list);

// How many expressions the copies may add to `m`: as many as it has, and at least 65,536.
size_t copy_budget(wabt::Module& m);

// Unrolls every loop that qualifies (see above; it also takes and returns no values and ends in a
// branch back to itself, `br 0` or `br_if 0`). Returns the loops unrolled, each with how many
// iterations a pass over its back edge now stands for (instrument() charges that much fuel).
// Each unrolling takes what it adds from `budget`; none is made that does not fit.
std::unordered_map<const wabt::LoopExpr*, uint32_t> unroll_small_loops(wabt::Module& m, size_t& budget);

// Gives each small self-recursive function its copies (appended after every other function, so
// no index moves), taking what they add from `budget`. Returns how many functions it copied.
uint32_t clone_small_recursion(wabt::Module& m, size_t& budget);

}  // namespace theater::engine
