#pragma once
// Reading modules with wabt, shared by inspect() and instrument(): the feature set this engine
// supports, and error messages that name the problem (and the unsupported feature, if that is it).
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/cast.h>
#include <wabt/error-formatter.h>
#include <wabt/ir.h>
#include <wabt/validator.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/stack_bounds.hpp"

namespace theater::engine {

// What wasm2c 1.0.32 compiles (and so what both tiers accept).
wabt::Features supported_features();

// How deep a function may nest blocks, loops and ifs. wabt's own walks of a module (its writer,
// and destroying one) recurse once per level, about 200 bytes each: a module may nest as deep as
// its size allows, and 200,000 levels overflowed an 8 MB stack. Compilers nest a block per case
// of a switch, so real modules reach the thousands; work on a module runs with room for this
// many (run_with_stack in base/stack_bounds.hpp).
inline constexpr size_t kMaxNesting = 10'000;
#if defined(__SANITIZE_ADDRESS__)
inline constexpr size_t kModuleWorkStack = 16 << 20;  // (AddressSanitizer's frames are larger)
#else
inline constexpr size_t kModuleWorkStack = 4 << 20;  // twice what work on a module needs at kMaxNesting
#endif

// Runs work on a module (reading, walking, writing it with wabt) with kModuleWorkStack at hand,
// and returns what it returns.
template <typename Work>
auto with_module_stack(Work&& work) {
  std::optional<decltype(work())> result;
  run_with_stack(kModuleWorkStack, [&] { result.emplace(work()); });
  return std::move(*result);
}

// Calls fn on each expression list nested directly in e: block and loop bodies, if arms and
// try bodies (exceptions are refused before we get here, but a walk that skipped a body would
// silently leave stale indices in it).
template <typename Fn>
void for_each_body(wabt::Expr& e, Fn&& fn) {
  switch (e.type()) {
    case wabt::ExprType::Block: fn(wabt::cast<wabt::BlockExpr>(&e)->block.exprs); break;
    case wabt::ExprType::Loop: fn(wabt::cast<wabt::LoopExpr>(&e)->block.exprs); break;
    case wabt::ExprType::If:
      fn(wabt::cast<wabt::IfExpr>(&e)->true_.exprs);
      fn(wabt::cast<wabt::IfExpr>(&e)->false_);
      break;
    case wabt::ExprType::Try:
      fn(wabt::cast<wabt::TryExpr>(&e)->block.exprs);
      for (auto& c : wabt::cast<wabt::TryExpr>(&e)->catches) fn(c.exprs);
      break;
    default: break;
  }
}

// Calls fn on every expression in `list` and in the lists nested in it, with no recursion (see
// kMaxNesting). Each list is walked in order; a nested list after the one it is in.
template <typename Fn>
void for_each_expr(wabt::ExprList& list, Fn&& fn) {
  std::vector<wabt::ExprList*> pending{&list};
  while (!pending.empty()) {
    wabt::ExprList& next = *pending.back();
    pending.pop_back();
    for (auto& e : next) {
      fn(e);
      for_each_body(e, [&](wabt::ExprList& body) { pending.push_back(&body); });
    }
  }
}

inline bool is_call(const wabt::Expr& e) {
  switch (e.type()) {
    case wabt::ExprType::Call:
    case wabt::ExprType::CallIndirect:
    case wabt::ExprType::CallRef:
    case wabt::ExprType::ReturnCall:
    case wabt::ExprType::ReturnCallIndirect: return true;
    default: return false;
  }
}

inline bool is_loop(const wabt::Expr& e) { return e.type() == wabt::ExprType::Loop; }

// The function a call or return_call names; nullptr for every other expression.
inline wabt::Var* direct_callee(wabt::Expr& e) {
  if (e.type() == wabt::ExprType::Call) return &wabt::cast<wabt::CallExpr>(&e)->var;
  if (e.type() == wabt::ExprType::ReturnCall) return &wabt::cast<wabt::ReturnCallExpr>(&e)->var;
  return nullptr;
}

// Whether some expression in `list`, at any depth, satisfies pred.
inline bool contains(wabt::ExprList& list, bool (*pred)(const wabt::Expr&)) {
  bool found = false;
  for_each_expr(list, [&](const wabt::Expr& e) { found = found || pred(e); });
  return found;
}

// The deepest nesting in a function body (0: no block at all).
size_t nesting_depth(wabt::ExprList& body);

// Empties every nested list into one flat list before the module goes, so that destroying it
// does not recurse once per level (the module is left with no code).
void dismantle(wabt::Module& m);

// Parses and validates; throws LoadError "label: ..." naming the problem.
void read_module(std::span<const uint8_t> wasm, std::string_view label, wabt::Module* out);

}  // namespace theater::engine
