// The copies described in unroll.hpp, on wabt's IR as read from a binary (every reference a
// plain index). Copying is recursive, once per nesting level, which is safe because only code
// of at most kMaxUnrolledBody / kMaxClonedBody expressions is copied.
#include "engine/unroll.hpp"

#include <wabt/cast.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "engine/wabt_util.hpp"

namespace theater::engine {

namespace {

using wabt::cast;
using wabt::ExprType;
using wabt::Index;

constexpr size_t kMaxUnrolledBody = 32;        // expressions in a loop's body (unroll_factor)
constexpr size_t kMaxClonedBody = 64;          // expressions in a self-recursive function
constexpr uint32_t kMaxClonedFunctions = 256;  // per module: bounds what the copies add

// How many times a loop whose body has this many expressions (nested ones included) is unrolled:
// 8 up to 16 (a copy, a scan, a sieve's inner loop: 2 checked instructions against 4 to 8), 4 up
// to 32, then not at all (an unrolled body stays under 130 expressions).
uint32_t unroll_factor(size_t body_exprs) {
  if (body_exprs <= 16) return 8;
  if (body_exprs <= kMaxUnrolledBody) return 4;
  return 1;
}

template <typename T, typename... Args>
std::unique_ptr<wabt::Expr> make(Args&&... args) {
  return std::make_unique<T>(std::forward<Args>(args)...);
}

template <typename T>
std::unique_ptr<wabt::Expr> copy_load_store(const wabt::Expr& e) {
  const auto* x = cast<T>(&e);
  return make<T>(x->opcode, x->memidx, x->align, x->offset);
}

bool clone_block(const wabt::Block& from, wabt::Block& to) {
  auto exprs = clone_exprs(from.exprs);
  if (!exprs) return false;
  to.label = from.label;
  to.decl = from.decl;
  to.exprs = std::move(*exprs);
  return true;
}

std::unique_ptr<wabt::Expr> clone_expr(const wabt::Expr& e) {
  switch (e.type()) {
    case ExprType::Binary: return make<wabt::BinaryExpr>(cast<wabt::BinaryExpr>(&e)->opcode);
    case ExprType::Compare: return make<wabt::CompareExpr>(cast<wabt::CompareExpr>(&e)->opcode);
    case ExprType::Convert: return make<wabt::ConvertExpr>(cast<wabt::ConvertExpr>(&e)->opcode);
    case ExprType::Unary: return make<wabt::UnaryExpr>(cast<wabt::UnaryExpr>(&e)->opcode);
    case ExprType::Ternary: return make<wabt::TernaryExpr>(cast<wabt::TernaryExpr>(&e)->opcode);
    case ExprType::Const: return make<wabt::ConstExpr>(cast<wabt::ConstExpr>(&e)->const_);
    case ExprType::Drop: return make<wabt::DropExpr>();
    case ExprType::Nop: return make<wabt::NopExpr>();
    case ExprType::Return: return make<wabt::ReturnExpr>();
    case ExprType::Unreachable: return make<wabt::UnreachableExpr>();
    case ExprType::Select: return make<wabt::SelectExpr>(cast<wabt::SelectExpr>(&e)->result_type);
    case ExprType::LocalGet: return make<wabt::LocalGetExpr>(cast<wabt::LocalGetExpr>(&e)->var);
    case ExprType::LocalSet: return make<wabt::LocalSetExpr>(cast<wabt::LocalSetExpr>(&e)->var);
    case ExprType::LocalTee: return make<wabt::LocalTeeExpr>(cast<wabt::LocalTeeExpr>(&e)->var);
    case ExprType::GlobalGet: return make<wabt::GlobalGetExpr>(cast<wabt::GlobalGetExpr>(&e)->var);
    case ExprType::GlobalSet: return make<wabt::GlobalSetExpr>(cast<wabt::GlobalSetExpr>(&e)->var);
    case ExprType::Br: return make<wabt::BrExpr>(cast<wabt::BrExpr>(&e)->var);
    case ExprType::BrIf: return make<wabt::BrIfExpr>(cast<wabt::BrIfExpr>(&e)->var);
    case ExprType::Call: return make<wabt::CallExpr>(cast<wabt::CallExpr>(&e)->var);
    case ExprType::ReturnCall: return make<wabt::ReturnCallExpr>(cast<wabt::ReturnCallExpr>(&e)->var);
    case ExprType::RefFunc: return make<wabt::RefFuncExpr>(cast<wabt::RefFuncExpr>(&e)->var);
    case ExprType::RefNull: return make<wabt::RefNullExpr>(cast<wabt::RefNullExpr>(&e)->type);
    case ExprType::RefIsNull: return make<wabt::RefIsNullExpr>();
    case ExprType::Load: return copy_load_store<wabt::LoadExpr>(e);
    case ExprType::Store: return copy_load_store<wabt::StoreExpr>(e);
    case ExprType::LoadSplat: return copy_load_store<wabt::LoadSplatExpr>(e);
    case ExprType::LoadZero: return copy_load_store<wabt::LoadZeroExpr>(e);
    case ExprType::MemorySize: return make<wabt::MemorySizeExpr>(cast<wabt::MemorySizeExpr>(&e)->memidx);
    case ExprType::MemoryGrow: return make<wabt::MemoryGrowExpr>(cast<wabt::MemoryGrowExpr>(&e)->memidx);
    case ExprType::MemoryFill: return make<wabt::MemoryFillExpr>(cast<wabt::MemoryFillExpr>(&e)->memidx);
    case ExprType::MemoryCopy: {
      const auto* x = cast<wabt::MemoryCopyExpr>(&e);
      return make<wabt::MemoryCopyExpr>(x->srcmemidx, x->destmemidx);
    }
    case ExprType::SimdLaneOp: {
      const auto* x = cast<wabt::SimdLaneOpExpr>(&e);
      return make<wabt::SimdLaneOpExpr>(x->opcode, x->val);
    }
    case ExprType::SimdShuffleOp: {
      const auto* x = cast<wabt::SimdShuffleOpExpr>(&e);
      return make<wabt::SimdShuffleOpExpr>(x->opcode, x->val);
    }
    case ExprType::SimdLoadLane: {
      const auto* x = cast<wabt::SimdLoadLaneExpr>(&e);
      return make<wabt::SimdLoadLaneExpr>(x->opcode, x->memidx, x->align, x->offset, x->val);
    }
    case ExprType::SimdStoreLane: {
      const auto* x = cast<wabt::SimdStoreLaneExpr>(&e);
      return make<wabt::SimdStoreLaneExpr>(x->opcode, x->memidx, x->align, x->offset, x->val);
    }
    case ExprType::BrTable: {
      const auto* x = cast<wabt::BrTableExpr>(&e);
      auto out = std::make_unique<wabt::BrTableExpr>();
      out->targets = x->targets;
      out->default_target = x->default_target;
      return out;
    }
    case ExprType::CallIndirect: {
      const auto* x = cast<wabt::CallIndirectExpr>(&e);
      auto out = std::make_unique<wabt::CallIndirectExpr>();
      out->decl = x->decl;
      out->table = x->table;
      return out;
    }
    case ExprType::ReturnCallIndirect: {
      const auto* x = cast<wabt::ReturnCallIndirectExpr>(&e);
      auto out = std::make_unique<wabt::ReturnCallIndirectExpr>();
      out->decl = x->decl;
      out->table = x->table;
      return out;
    }
    case ExprType::Block: {
      auto out = std::make_unique<wabt::BlockExpr>();
      return clone_block(cast<wabt::BlockExpr>(&e)->block, out->block) ? std::move(out) : nullptr;
    }
    case ExprType::Loop: {
      auto out = std::make_unique<wabt::LoopExpr>();
      return clone_block(cast<wabt::LoopExpr>(&e)->block, out->block) ? std::move(out) : nullptr;
    }
    case ExprType::If: {
      const auto* x = cast<wabt::IfExpr>(&e);
      auto out = std::make_unique<wabt::IfExpr>();
      auto otherwise = clone_exprs(x->false_);
      if (!otherwise || !clone_block(x->true_, out->true_)) return nullptr;
      out->false_ = std::move(*otherwise);
      return out;
    }
    default: return nullptr;  // exceptions, atomics, tables, call_ref, code metadata
  }
}

size_t count_exprs(wabt::ExprList& list) {
  size_t n = 0;
  for_each_expr(list, [&](wabt::Expr&) { ++n; });
  return n;
}

// The expressions in `list` (nested ones included) if there are at most `limit`, else limit + 1.
// Stops there: every loop of a function is sized, and a full count of each would walk loops
// nested 10,000 deep (kMaxNesting) some 50 million times.
size_t count_exprs_up_to(wabt::ExprList& list, size_t limit) {
  size_t n = 0;
  std::vector<wabt::ExprList*> pending{&list};
  while (!pending.empty() && n <= limit) {
    wabt::ExprList& next = *pending.back();
    pending.pop_back();
    for (auto e = next.begin(); e != next.end() && n <= limit; ++e) {
      ++n;
      for_each_body(*e, [&](wabt::ExprList& body) { pending.push_back(&body); });
    }
  }
  return std::min(n, limit + 1);
}

bool takes_or_gives_values(const wabt::Module& m, const wabt::FuncDeclaration& decl) {
  if (decl.has_func_type) {
    if (const wabt::FuncType* type = m.GetFuncType(decl.type_var)) {
      return type->sig.GetNumParams() + type->sig.GetNumResults() > 0;
    }
  }
  return decl.sig.GetNumParams() + decl.sig.GetNumResults() > 0;
}

// A copy placed `by` levels deeper than its original: branches that leave it (a depth at or past
// the levels it nests itself) reach `by` more labels to get to the same place.
void deepen_branches_out(wabt::ExprList& list, Index by, Index nesting = 0) {
  auto deepen = [&](wabt::Var& target) {
    if (target.index() >= nesting) target.set_index(target.index() + by);
  };
  for (wabt::Expr& e : list) {
    switch (e.type()) {
      case ExprType::Br: deepen(cast<wabt::BrExpr>(&e)->var); break;
      case ExprType::BrIf: deepen(cast<wabt::BrIfExpr>(&e)->var); break;
      case ExprType::BrTable: {
        auto* table = cast<wabt::BrTableExpr>(&e);
        for (auto& t : table->targets) deepen(t);
        deepen(table->default_target);
        break;
      }
      default: for_each_body(e, [&](wabt::ExprList& body) { deepen_branches_out(body, by, nesting + 1); });
    }
  }
}

bool is_branch_to_itself(const wabt::Expr& e) {  // (in a loop's body, at its top level)
  if (e.type() == ExprType::Br) return cast<wabt::BrExpr>(&e)->var.index() == 0;
  if (e.type() == ExprType::BrIf) return cast<wabt::BrIfExpr>(&e)->var.index() == 0;
  return false;
}

// The loop's body without its last expression, once for each extra time it runs (factor - 1),
// or nothing if the loop does not qualify or its copies do not fit in the budget.
std::optional<std::vector<wabt::ExprList>> copies_to_unroll(const wabt::Module& m, wabt::LoopExpr& loop,
                                                            size_t& budget) {
  wabt::ExprList& body = loop.block.exprs;
  if (takes_or_gives_values(m, loop.block.decl) || body.size() < 2 || !is_branch_to_itself(body.back())) {
    return std::nullopt;
  }
  const size_t size = count_exprs_up_to(body, kMaxUnrolledBody);
  const uint32_t factor = unroll_factor(size);
  // (the size first: what comes after it walks at most kMaxUnrolledBody expressions)
  if (factor < 2 || size * (factor - 1) > budget || contains(body, is_loop) || contains(body, is_call)) {
    return std::nullopt;
  }
  std::vector<wabt::ExprList> copies;
  for (uint32_t i = 1; i < factor; ++i) {
    auto copy = clone_exprs(body);
    if (!copy) return std::nullopt;
    copy->erase(std::prev(copy->end()));  // (the branch back stays the original's alone)
    copies.push_back(std::move(*copy));
  }
  budget -= size * (factor - 1);
  return copies;
}

// Unrolled four times:
// `loop  B  br 0`     ->  `loop  B B B B  br 0`: each B leaves the loop where it did; the copies
//                         sit at B's own level, so their branches need no change.
// `loop  B  br_if 0`  ->  `loop  B  if  B  if  B  if  B  br_if 3  end end end`: B leaves the
//                         condition; while it holds, the next copy runs (a level deeper, so its
//                         branches out reach one more label), and the last goes round.
// Returns how many times the body now runs per pass over the back edge (1: left alone).
uint32_t unroll(const wabt::Module& m, wabt::LoopExpr& loop, size_t& budget) {
  auto copies = copies_to_unroll(m, loop, budget);
  if (!copies) return 1;
  const auto factor = static_cast<uint32_t>(copies->size() + 1);
  wabt::ExprList& body = loop.block.exprs;
  if (body.back().type() == ExprType::Br) {
    for (auto& copy : *copies) body.splice(std::prev(body.end()), copy);
    return factor;
  }
  // Built from the innermost copy out; the original's br_if 0 becomes the outermost `if`.
  std::unique_ptr<wabt::Expr> next = std::make_unique<wabt::BrIfExpr>(wabt::Var(factor - 1, wabt::Location()));
  for (Index level = factor - 1; level >= 1; --level) {
    wabt::ExprList& copy = (*copies)[level - 1];
    deepen_branches_out(copy, level);
    auto branch = std::make_unique<wabt::IfExpr>();
    branch->true_.exprs.splice(branch->true_.exprs.end(), copy);
    branch->true_.exprs.push_back(std::move(next));
    next = std::move(branch);
  }
  body.erase(std::prev(body.end()));
  body.push_back(std::move(next));
  return factor;
}

bool calls_itself(wabt::ExprList& body, Index self) {
  bool found = false;
  for_each_expr(body, [&](wabt::Expr& e) {
    const wabt::Var* callee = direct_callee(e);
    found = found || (callee && callee->index() == self);
  });
  return found;
}

void redirect_calls(wabt::ExprList& body, Index from, Index to) {
  for_each_expr(body, [&](wabt::Expr& e) {
    wabt::Var* callee = direct_callee(e);
    if (callee && callee->index() == from) callee->set_index(to);
  });
}

}  // namespace

std::optional<wabt::ExprList> clone_exprs(const wabt::ExprList& list) {
  wabt::ExprList out;
  for (const wabt::Expr& e : list) {
    auto copy = clone_expr(e);
    if (!copy) return std::nullopt;
    out.push_back(std::move(copy));
  }
  return out;
}

size_t copy_budget(wabt::Module& m) {
  size_t total = 0;
  for (Index f = m.num_func_imports; f < m.funcs.size(); ++f) total += count_exprs(m.funcs[f]->exprs);
  return std::max<size_t>(total, 1 << 16);
}

std::unordered_map<const wabt::LoopExpr*, uint32_t> unroll_small_loops(wabt::Module& m, size_t& budget) {
  std::unordered_map<const wabt::LoopExpr*, uint32_t> unrolled;
  for (Index f = m.num_func_imports; f < m.funcs.size(); ++f) {
    std::vector<wabt::LoopExpr*> loops;
    for_each_expr(m.funcs[f]->exprs, [&](wabt::Expr& e) {
      if (is_loop(e)) loops.push_back(cast<wabt::LoopExpr>(&e));
    });
    // Only innermost loops qualify, and what unroll() adds holds none: the others stay valid.
    for (wabt::LoopExpr* loop : loops) {
      if (const uint32_t factor = unroll(m, *loop, budget); factor > 1) unrolled.emplace(loop, factor);
    }
  }
  return unrolled;
}

uint32_t clone_small_recursion(wabt::Module& m, size_t& budget) {
  uint32_t cloned = 0;
  const Index defined_end = static_cast<Index>(m.funcs.size());
  for (Index f = m.num_func_imports; f < defined_end && cloned < kMaxClonedFunctions; ++f) {
    wabt::Func& original = *m.funcs[f];
    const size_t size = count_exprs_up_to(original.exprs, kMaxClonedBody);
    if (size > kMaxClonedBody || size * (kRecursionRing - 1) > budget || !calls_itself(original.exprs, f)) continue;
    std::vector<wabt::ExprList> bodies;
    for (uint32_t i = 1; i < kRecursionRing; ++i) {
      auto body = clone_exprs(original.exprs);
      if (!body) break;
      bodies.push_back(std::move(*body));
    }
    if (bodies.size() != kRecursionRing - 1) continue;
    budget -= size * (kRecursionRing - 1);
    std::vector<Index> ring{f};
    for (auto& body : bodies) {
      auto field = std::make_unique<wabt::FuncModuleField>();
      field->func.decl = original.decl;
      field->func.local_types = original.local_types;
      field->func.exprs = std::move(body);
      m.AppendField(std::move(field));
      ring.push_back(static_cast<Index>(m.funcs.size() - 1));
    }
    for (size_t i = 0; i < ring.size(); ++i) {
      redirect_calls(m.funcs[ring[i]]->exprs, f, ring[(i + 1) % ring.size()]);
    }
    ++cloned;
  }
  return cloned;
}

}  // namespace theater::engine
