// The module rewrite described in instrument.hpp, on wabt's IR. The module is read without debug
// names, so every reference in the IR is a plain index; the output carries no name section (wabt
// keeps no custom sections), so nothing can describe the old index space.
#include "engine/instrument.hpp"

#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/stream.h>

#include <algorithm>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "engine/engine.hpp"
#include "engine/unroll.hpp"
#include "engine/wabt_util.hpp"

namespace theater::engine {

namespace {

using wabt::cast;
using wabt::Index;

// The host sets the real budget (Instance::set_fuel) before it runs code; this only has to be
// positive so that a start function runs a while before its first call to the host.
constexpr int32_t kInitialFuel = 10000;

// The host imports take the first two function indices; everything the module had moves up.
constexpr Index kFuelFunc = 0;   // theater.__fuel_exhausted (i32 remaining) -> i32 new fuel
constexpr Index kGrowFunc = 1;   // theater.__memory_grow (i32) -> i32
constexpr Index kHostFuncs = 2;

wabt::Var index_var(Index i) { return wabt::Var(i, wabt::Location()); }

// ---- renumbering -------------------------------------------------------------------------------

void shift(wabt::Var& func) { func.set_index(func.index() + kHostFuncs); }

void shift_functions_in(wabt::ExprList& list) {
  for_each_expr(list, [](wabt::Expr& e) {
    switch (e.type()) {
      case wabt::ExprType::Call: shift(cast<wabt::CallExpr>(&e)->var); break;
      case wabt::ExprType::ReturnCall: shift(cast<wabt::ReturnCallExpr>(&e)->var); break;
      case wabt::ExprType::RefFunc: shift(cast<wabt::RefFuncExpr>(&e)->var); break;
      default: break;
    }
  });
}

// Every place wabt's IR holds a function index: code, exports, start, element segments (active,
// passive and declared, whose plain index lists wabt reads as ref.func expressions) and global
// initialisers (ref.func).
void shift_all_function_indices(wabt::Module& m) {
  for (wabt::Func* f : m.funcs) shift_functions_in(f->exprs);
  for (wabt::Export* ex : m.exports) {
    if (ex->kind == wabt::ExternalKind::Func) shift(ex->var);
  }
  for (wabt::Var* start : m.starts) shift(*start);
  for (wabt::ElemSegment* seg : m.elem_segments) {
    for (auto& list : seg->elem_exprs) shift_functions_in(list);
  }
  for (wabt::Global* g : m.globals) shift_functions_in(g->init_expr);
}

// ---- additions ---------------------------------------------------------------------------------

// The index of a function type with this signature, reusing the module's own if it has one.
Index func_type(wabt::Module& m, const wabt::FuncSignature& sig) {
  const Index existing = m.GetFuncTypeIndex(sig);
  if (existing != wabt::kInvalidIndex) return existing;
  auto type = std::make_unique<wabt::FuncType>();
  type->sig = sig;
  auto field = std::make_unique<wabt::TypeModuleField>();
  field->type = std::move(type);
  m.AppendField(std::move(field));
  return static_cast<Index>(m.types.size() - 1);
}

// Inserts a function import before all others, taking function index 0. The import field goes
// first in `fields` too: the validator builds its index space from the fields' order.
void prepend_func_import(wabt::Module& m, std::string_view name, const wabt::FuncSignature& sig) {
  auto import = std::make_unique<wabt::FuncImport>();
  import->module_name = std::string(kHostModule);
  import->field_name = std::string(name);
  import->func.decl.has_func_type = true;
  import->func.decl.type_var = index_var(func_type(m, sig));
  import->func.decl.sig = sig;
  m.funcs.insert(m.funcs.begin(), &import->func);
  m.imports.insert(m.imports.begin(), import.get());
  ++m.num_func_imports;
  m.fields.push_front(std::make_unique<wabt::ImportModuleField>(std::move(import)));
}

void add_host_imports(wabt::Module& m) {
  wabt::FuncSignature grow;
  grow.param_types = {wabt::Type::I32};
  grow.result_types = {wabt::Type::I32};
  prepend_func_import(m, kGrowImport, grow);
  wabt::FuncSignature refuel;
  refuel.param_types = {wabt::Type::I32};
  refuel.result_types = {wabt::Type::I32};
  prepend_func_import(m, kFuelImport, refuel);  // in front of grow: index 0
}

// The fuel counter goes last in the global index space, so no global index of the module moves.
Index add_fuel_global(wabt::Module& m) {
  auto global = std::make_unique<wabt::GlobalModuleField>();
  global->global.type = wabt::Type::I32;
  global->global.mutable_ = true;
  global->global.init_expr.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(kInitialFuel)));
  m.AppendField(std::move(global));
  const auto index = static_cast<Index>(m.globals.size() - 1);

  auto exported = std::make_unique<wabt::ExportModuleField>();
  exported->export_.name = std::string(kFuelExport);
  exported->export_.kind = wabt::ExternalKind::Global;
  exported->export_.var = index_var(index);
  m.AppendField(std::move(exported));
  return index;
}

// ---- code rewrite ------------------------------------------------------------------------------

bool has_body(wabt::Expr& e) {
  bool any = false;
  for_each_body(e, [&](wabt::ExprList&) { any = true; });
  return any;
}

// Which calls need a fuel check before them. Code runs unboundedly only by passing loops' back
// edges (each checked, unless every iteration passes another check) or by calls that come
// round again: recursion, direct or through other functions, or a host function that calls
// back into the module (as theater_alloc is called). So it is enough that every cycle of calls
// holds a checked call, and that the calls made between two checks are bounded:
//  - a callee that makes no calls cannot be on a cycle: no check (a comparison function, a
//    getter; a hash block's loops count their own fuel);
//  - the host may call back in: always checked;
//  - through a table or a funcref: checked if a function of that type that makes calls may be
//    there;
//  - direct calls between the module's functions: a depth-first walk of the call graph finds
//    its back edges (a call to a function whose walk is still open), and every cycle holds one:
//    those are checked. A recursive-descent parser then pays one check per nesting (its call
//    back to the top rule), not one per rule, and fib one per call (its only call is to itself).
//    The calls left form no cycle, but a function could still make exponentially many of them
//    (f calls g twice, g calls h twice...), so a function whose unchecked calls could run more
//    than kUncheckedCalls activations gets all its calls checked.
// A call that needs a check still goes without one when a check has run earlier in the same
// activation (CodeRewriter::checked_in_this_call).
constexpr uint32_t kUncheckedCalls = 16;

class CallTargets {
 public:
  explicit CallTargets(wabt::Module& m)
      : module_(m), calls_(m.funcs.size()), in_table_(m.funcs.size()), sites_(m.funcs.size()) {
    for (Index i = 0; i < m.funcs.size(); ++i) {
      calls_[i] = i < m.num_func_imports || contains(m.funcs[i]->exprs, is_call);
      collect_refs(m.funcs[i]->exprs);
    }
    for (wabt::ElemSegment* seg : m.elem_segments) {
      for (auto& list : seg->elem_exprs) collect_refs(list);
    }
    for (wabt::Global* g : m.globals) collect_refs(g->init_expr);
    // A table from outside may hold anything (the engine imports none, but a module may ask).
    any_in_table_ = m.num_table_imports > 0;
    // The types of the functions that may be in a table and make calls (a module has few types,
    // and a call_indirect then compares against these only).
    for (Index f = 0; f < m.funcs.size(); ++f) {
      if (!in_table_[f] || !calls_[f]) continue;
      wabt::FuncSignature sig = signature(m.funcs[f]->decl);
      if (std::find(calling_in_table_.begin(), calling_in_table_.end(), sig) == calling_in_table_.end()) {
        calling_in_table_.push_back(std::move(sig));
      }
    }
    for (Index i = m.num_func_imports; i < m.funcs.size(); ++i) collect_sites(m.funcs[i]->exprs, sites_[i]);
    check_back_edges_and_bound_the_rest();
  }

  bool needs_check(const wabt::Expr& e) const {
    switch (e.type()) {
      case wabt::ExprType::Call: return direct_needs_check(e, cast<wabt::CallExpr>(&e)->var);
      case wabt::ExprType::ReturnCall: return direct_needs_check(e, cast<wabt::ReturnCallExpr>(&e)->var);
      case wabt::ExprType::CallIndirect: return table_calls(cast<wabt::CallIndirectExpr>(&e)->decl);
      case wabt::ExprType::ReturnCallIndirect:
        return table_calls(cast<wabt::ReturnCallIndirectExpr>(&e)->decl);
      default: return is_call(e);  // call_ref: a callee we cannot know
    }
  }

 private:
  // Only functions a ref.func names (in code, element segments or global initialisers) can be
  // in a table or a funcref: the module has no other way to take a function's reference.
  void collect_refs(wabt::ExprList& list) {
    for_each_expr(list, [&](wabt::Expr& e) {
      if (e.type() == wabt::ExprType::RefFunc) {
        const Index f = cast<wabt::RefFuncExpr>(&e)->var.index();
        if (f < in_table_.size()) in_table_[f] = true;
      }
    });
  }

  bool callee_calls(Index f) const { return f >= calls_.size() || calls_[f]; }
  bool is_import(Index f) const { return f < module_.num_func_imports; }

  bool direct_needs_check(const wabt::Expr& site, const wabt::Var& callee) const {
    const Index f = callee.index();
    if (!callee_calls(f)) return false;
    return is_import(f) || f >= calls_.size() || checked_sites_.count(&site) != 0;
  }

  struct Site {
    const wabt::Expr* expr;
    Index callee;
  };
  // The direct calls in a function to the module's own functions that make calls.
  void collect_sites(wabt::ExprList& list, std::vector<Site>& out) {
    for_each_expr(list, [&](wabt::Expr& e) {
      const wabt::Var* callee = direct_callee(e);
      if (callee && callee->index() < calls_.size() && !is_import(callee->index()) && calls_[callee->index()]) {
        out.push_back({&e, callee->index()});
      }
    });
  }

  // The walk is iterative: a module's call chains may be far deeper than this thread's stack.
  // Functions finish in an order where every call that is not a back edge goes to one that
  // finished earlier, so the bound on unchecked calls is computed in that order.
  void check_back_edges_and_bound_the_rest() {
    enum class State : uint8_t { New, Open, Done };
    std::vector<State> state(module_.funcs.size(), State::New);
    std::vector<uint64_t> activations(module_.funcs.size(), 1);  // unchecked, from its entry
    struct Frame {
      Index func;
      size_t next;  // index into sites_[func]
    };
    std::vector<Frame> stack;
    for (Index root = module_.num_func_imports; root < module_.funcs.size(); ++root) {
      if (state[root] != State::New) continue;
      state[root] = State::Open;
      stack.push_back({root, 0});
      while (!stack.empty()) {
        Frame& top = stack.back();
        if (top.next < sites_[top.func].size()) {
          const Site& site = sites_[top.func][top.next++];
          if (state[site.callee] == State::Open) {
            checked_sites_.insert(site.expr);  // a back edge: closes a cycle
          } else if (state[site.callee] == State::New) {
            state[site.callee] = State::Open;
            stack.push_back({site.callee, 0});
          }
          continue;
        }
        const Index f = top.func;
        stack.pop_back();
        state[f] = State::Done;
        uint64_t total = 1;
        for (const Site& site : sites_[f]) {
          if (!checked_sites_.count(site.expr)) total += activations[site.callee];
        }
        if (total > kUncheckedCalls) {
          for (const Site& site : sites_[f]) checked_sites_.insert(site.expr);
          total = 1;
        }
        activations[f] = total;
      }
    }
  }

  // call_indirect traps unless the callee's type matches, so only functions of that type count.
  bool table_calls(const wabt::FuncDeclaration& decl) const {
    if (any_in_table_) return true;
    const wabt::FuncSignature sig = signature(decl);
    return std::find(calling_in_table_.begin(), calling_in_table_.end(), sig) != calling_in_table_.end();
  }

  wabt::FuncSignature signature(const wabt::FuncDeclaration& decl) const {
    if (decl.has_func_type) {
      if (const wabt::FuncType* type = module_.GetFuncType(decl.type_var)) return type->sig;
    }
    return decl.sig;
  }

  const wabt::Module& module_;
  std::vector<bool> calls_;     // per function: an import, or code that makes calls
  std::vector<bool> in_table_;  // per function: some ref.func names it
  bool any_in_table_ = false;
  std::vector<wabt::FuncSignature> calling_in_table_;  // distinct types of those that also call
  std::vector<std::vector<Site>> sites_;  // per function: its direct calls to functions that call
  std::unordered_set<const wabt::Expr*> checked_sites_;
};

// Plants fuel checks before the calls CallTargets picks and on the branches back to loop heads,
// and routes memory.grow to the host. Runs after the renumbering, with the final indices.
//
// Where a loop's check sits decides what the C compiler can do with the loop. Every iteration
// after the first enters through a branch to the loop's label, so a check just before each such
// branch counts every iteration, as one at the loop head would. But a check at the head comes
// before the loop's exit test, and the loads after that test (the memory's base and size) then
// run on only some paths through the loop, so the compiler keeps reloading them every iteration;
// with the check on the back edge the loop rotates and they are hoisted out.
//
// What a check costs depends on the function:
//  - A function with loops and no calls (a leaf: a hash block, a sieve, a copy loop) counts in
//    a local (a register): loaded from the global at entry, stored back at the end, one
//    decrement per iteration. In the global (a field of the instance in memory), `fuel -= 1`
//    chained every iteration through a store and a load, which cost a tight loop a third of
//    its speed.
//  - A function that calls only reads the global, before the calls that need it (CallTargets)
//    and on its loops' back edges: `if (fuel < 0) fuel = __fuel_exhausted(fuel)`. Decrementing
//    there chained every call through memory (the caller stored its count, the callee loaded,
//    decremented and stored it, the caller loaded it back), which cost a recursive fib 95% and
//    a recursive-descent parser 40% (bench/kernels.c). Such a function spends no fuel; what
//    makes the global negative in it is the host (Instance::interrupt: the scheduler's watchdog
//    does it to a turn that has run past its time slice), or a leaf it called that used the
//    fuel up. The check sits before the call rather than at the callee's entry: there the
//    caller has its frame anyway, while at an entry it made every callee set up its frame first,
//    even one that returns at once (half of fib's calls), which cost fib 98% where a check per
//    call now costs 65% (instructions, callgrind).
//  - A function with neither runs for a bounded time, and has no check.
// A back edge that every iteration reaches through another check (a checked call in the loop
// body, not under a branch) needs none of its own.
// The exhausted call takes the count and returns the new one, so its path stores nothing but
// the global: the AOT tier can then make it a call that the compiler knows leaves memory alone.
class CodeRewriter {
 public:
  CodeRewriter(wabt::Module& m, const CallTargets& targets, Index fuel_global, InstrumentStats& stats,
               bool fuel_checks, const std::unordered_map<const wabt::LoopExpr*, uint32_t>& unrolled)
      : module_(m),
        targets_(targets),
        fuel_global_(fuel_global),
        stats_(stats),
        fuel_checks_(fuel_checks),
        unrolled_(unrolled) {}

  void function(wabt::Func& f) {
    // Decided before memory.grow becomes a call to the host (a leaf that grows stays a leaf).
    const bool calls = contains(f.exprs, is_call);
    fuel_local_.reset();
    if (fuel_checks_ && !calls && contains(f.exprs, is_loop)) {
      f.local_types.AppendDecl(wabt::Type::I32, 1);
      fuel_local_ = f.GetNumParamsAndLocals() - 1;
    }
    labels_.assign(1, 0);  // the function's own label: a branch to it returns
    loop_params_.assign(1, false);
    checked_.assign(1, false);
    rewrite(f.exprs);
    if (!fuel_local_) return;
    // local = fuel; block (results) <body> end; fuel = local
    // A branch to the function's own label (a return by depth) now lands at the block's end,
    // before the store.
    auto body = std::make_unique<wabt::BlockExpr>();
    body->block.decl.sig.result_types = f.decl.sig.result_types;
    if (f.GetNumResults() > 1) {  // a multi-value block type is a type index
      body->block.decl.has_func_type = true;
      body->block.decl.type_var = index_var(func_type(module_, body->block.decl.sig));
    }
    body->block.exprs.splice(body->block.exprs.begin(), f.exprs);
    wabt::ExprList prologue = load_local();
    f.exprs.splice(f.exprs.end(), prologue);
    f.exprs.push_back(std::move(body));
    wabt::ExprList epilogue = store_local();
    f.exprs.splice(f.exprs.end(), epilogue);
  }

 private:
  // One list being rewritten: labels_, loop_params_ and checked_ hold an entry per open list
  // (pushed when it starts, popped when it ends), the function's own first.
  struct OpenList {
    wabt::ExprList* list;
    wabt::ExprList::iterator at;
    uint32_t loop;     // the body of a loop: a branch to its label goes round (as labels_)
    bool loop_params;  // ... a loop with parameters
    bool started = false;
  };

  // A walk with a stack of its own rather than recursion (see for_each_expr): a list's
  // expressions in order, each nested list in full before the expression after the one it is in.
  void rewrite(wabt::ExprList& function_body) {
    std::vector<OpenList> open;
    open.push_back({&function_body, function_body.begin(), 0, false, true});  // (its entries: function())
    while (!open.empty()) {
      OpenList& top = open.back();
      if (!top.started) {
        top.started = true;
        labels_.push_back(top.loop);
        loop_params_.push_back(top.loop_params);
        checked_.push_back(false);
      }
      if (top.at == top.list->end()) {
        if (open.size() > 1) {  // (the function's entries stay for function())
          checked_.pop_back();
          loop_params_.pop_back();
          labels_.pop_back();
        }
        open.pop_back();
        continue;
      }
      // Only expressions without nested lists are replaced (and freed): `e` is read after
      // rewrite_one only if it has some.
      wabt::Expr& e = *top.at;
      const bool nests = has_body(e);
      top.at = rewrite_one(*top.list, top.at);
      if (!nests) continue;
      // Its nested lists next, the first on top (the reference to `top` ends here).
      std::vector<OpenList> nested;
      for_each_body(e, [&](wabt::ExprList& body) {
        const bool loop = is_loop(e);
        nested.push_back({&body, body.begin(), loop ? iterations_per_pass(*cast<wabt::LoopExpr>(&e)) : 0,
                          loop && has_params(cast<wabt::LoopExpr>(&e)->block.decl)});
      });
      for (auto n = nested.rbegin(); n != nested.rend(); ++n) open.push_back(*n);
    }
  }

  // Rewrites the expression at `it` in `list` (checks go before it; memory.grow and a br_if are
  // replaced); returns the position after it, where the list goes on.
  wabt::ExprList::iterator rewrite_one(wabt::ExprList& list, wabt::ExprList::iterator it) {
    if (it->type() == wabt::ExprType::MemoryGrow) {
      // Same stack effect, (i32) -> i32, so the call drops in where the instruction was.
      // (The host's grow neither reads nor sets the fuel: no store around it.)
      it = list.insert(it, std::make_unique<wabt::CallExpr>(index_var(kGrowFunc)));
      list.erase(std::next(it));
      ++stats_.grows_routed;
      return std::next(it);
    }
    const uint32_t back_edge = fuel_checks_ ? back_edge_unchecked(*it) : 0;  // iterations it stands for
    if (back_edge && !fuel_local_ && it->type() == wabt::ExprType::BrIf && !target_takes_values(*it)) {
      // br_if L  ->  if  <check>  br L  end: the check runs only when the loop goes round again,
      // not on every way out of it (a loop written do-while, as compilers emit them, leaves
      // through this br_if once each time it runs: a parser's loops mostly run once or not at
      // all; the evaluator went from +10% to +1% instructions). Both take the i32 condition
      // and nothing else, as the loop has no parameters. Not in a leaf: there the decrement
      // before the branch let the C compiler do better (sha256's blocks: +3.7% against +5.6%).
      // The new `if` holds only the check and the branch: it is not walked.
      auto taken = std::make_unique<wabt::IfExpr>();
      wabt::ExprList check = fuel_check(back_edge);
      taken->true_.exprs.splice(taken->true_.exprs.end(), check);
      const Index depth = cast<wabt::BrIfExpr>(&*it)->var.index();
      taken->true_.exprs.push_back(std::make_unique<wabt::BrExpr>(index_var(depth + 1)));
      auto replaced = list.insert(it, std::move(taken));
      list.erase(it);
      return std::next(replaced);
    }
    if (back_edge || (fuel_checks_ && targets_.needs_check(*it) && !checked_in_this_call())) {
      // Stack-neutral, so it fits under a branch's or a call's operands.
      wabt::ExprList check = fuel_check(back_edge ? back_edge : 1);
      list.splice(it, check);
      checked_.back() = true;
    }
    // A leaf counting in its local hands the count back before it returns (it makes no calls,
    // memory.grow aside, and the host's grow neither reads nor sets the fuel).
    if (fuel_local_ && it->type() == wabt::ExprType::Return) {
      wabt::ExprList before = store_local();
      list.splice(it, before);
    }
    return std::next(it);
  }

  // A call needs no check of its own once this activation of the function has passed one
  // (a check at the top level of an enclosing list, before this point): each activation then
  // checks before its first call that can come round again, so between two checks there are at
  // most the calls left in the frames being returned to, and one descent. In a loop, the back
  // edge's check covers the later iterations (it is planted: a check outside the loop body does
  // not count for it). fib: one check per call that recurses, not one per recursive call.
  bool checked_in_this_call() const {
    for (bool c : checked_) {
      if (c) return true;
    }
    return false;
  }

  bool has_params(const wabt::FuncDeclaration& decl) const {
    if (decl.has_func_type) {
      if (const wabt::FuncType* type = module_.GetFuncType(decl.type_var)) return type->sig.GetNumParams() > 0;
    }
    return decl.sig.GetNumParams() > 0;
  }

  // A br_if to a loop that has parameters passes them on (and leaves them when not taken).
  bool target_takes_values(const wabt::Expr& e) const {
    const Index depth = cast<wabt::BrIfExpr>(&e)->var.index();
    return depth < loop_params_.size() && loop_params_[loop_params_.size() - 1 - depth];
  }

  // A pass over an unrolled loop's back edge stands for several iterations (unroll.hpp).
  uint32_t iterations_per_pass(const wabt::LoopExpr& loop) const {
    const auto it = unrolled_.find(&loop);
    return it == unrolled_.end() ? 1 : it->second;
  }

  // A branch back to a loop head that no check has run before in this iteration (returns the
  // iterations a pass over it stands for; 0: not such a branch). A check at
  // the top level of a list runs before everything after it in that list, and before all that
  // is nested in it; a list inside the loop (or the loop's own body) with a check before this
  // point means the iteration has passed one (a call that is checked, typically: a parser's
  // loop over its tokens). Labels are depths, 0 the innermost; the innermost loop among the
  // targets decides, as any list inside it is also inside the outer ones.
  uint32_t back_edge_unchecked(const wabt::Expr& e) const {
    std::optional<size_t> innermost;  // index into labels_
    auto target = [&](const wabt::Var& v) {
      const Index depth = v.index();
      if (depth >= labels_.size()) return;
      const size_t at = labels_.size() - 1 - depth;
      if (labels_[at] && (!innermost || at > *innermost)) innermost = at;
    };
    switch (e.type()) {
      case wabt::ExprType::Br: target(cast<wabt::BrExpr>(&e)->var); break;
      case wabt::ExprType::BrIf: target(cast<wabt::BrIfExpr>(&e)->var); break;
      case wabt::ExprType::BrTable: {
        const auto* table = cast<wabt::BrTableExpr>(&e);
        target(table->default_target);
        for (const auto& t : table->targets) target(t);
        break;
      }
      default: return 0;
    }
    if (!innermost) return 0;
    for (size_t i = *innermost; i < checked_.size(); ++i) {
      if (checked_[i]) return 0;
    }
    return labels_[*innermost];
  }

  wabt::ExprList store_local() {  // fuel = local
    wabt::ExprList out;
    out.push_back(std::make_unique<wabt::LocalGetExpr>(index_var(*fuel_local_)));
    out.push_back(std::make_unique<wabt::GlobalSetExpr>(index_var(fuel_global_)));
    return out;
  }
  wabt::ExprList load_local() {  // local = fuel
    wabt::ExprList out;
    out.push_back(std::make_unique<wabt::GlobalGetExpr>(index_var(fuel_global_)));
    out.push_back(std::make_unique<wabt::LocalSetExpr>(index_var(*fuel_local_)));
    return out;
  }

  // Stack-neutral, so valid anywhere an instruction may go:
  //   local -= units; if (local < 0) local = __fuel_exhausted(local);  in a leaf with loops
  //   if (fuel < 0) fuel = __fuel_exhausted(fuel);                      in a function that calls
  wabt::ExprList fuel_check(uint32_t units) {
    wabt::ExprList check;
    if (!fuel_checks_) return check;
    auto get = [&]() -> std::unique_ptr<wabt::Expr> {
      if (fuel_local_) return std::make_unique<wabt::LocalGetExpr>(index_var(*fuel_local_));
      return std::make_unique<wabt::GlobalGetExpr>(index_var(fuel_global_));
    };
    auto set = [&]() -> std::unique_ptr<wabt::Expr> {
      if (fuel_local_) return std::make_unique<wabt::LocalSetExpr>(index_var(*fuel_local_));
      return std::make_unique<wabt::GlobalSetExpr>(index_var(fuel_global_));
    };
    check.push_back(get());
    if (fuel_local_) {
      check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(static_cast<int32_t>(units))));
      check.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I32Sub));
      check.push_back(std::make_unique<wabt::LocalTeeExpr>(index_var(*fuel_local_)));
    }
    check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(0)));
    check.push_back(std::make_unique<wabt::CompareExpr>(wabt::Opcode::I32LtS));
    auto branch = std::make_unique<wabt::IfExpr>();
    auto& then = branch->true_.exprs;
    then.push_back(get());
    then.push_back(std::make_unique<wabt::CallExpr>(index_var(kFuelFunc)));
    then.push_back(set());
    check.push_back(std::move(branch));
    ++stats_.fuel_checks;
    return check;
  }

  wabt::Module& module_;
  const CallTargets& targets_;
  Index fuel_global_;
  InstrumentStats& stats_;
  bool fuel_checks_;
  const std::unordered_map<const wabt::LoopExpr*, uint32_t>& unrolled_;
  std::optional<Index> fuel_local_;  // the function being rewritten counts in this local (a leaf)
  // Enclosing labels, outermost first: 0 for a block, for a loop the iterations a pass over a
  // branch back to it stands for (iterations_per_pass).
  std::vector<uint32_t> labels_;
  std::vector<bool> loop_params_;    // as labels_: a loop that takes parameters
  std::vector<bool> checked_;        // per enclosing list (as labels_): a check planted in it so far
};

void validate(wabt::Module& m, std::string_view label) {
  wabt::Errors errors;
  wabt::ValidateOptions options(supported_features());
  if (wabt::Failed(wabt::ValidateModule(&m, &errors, options))) {
    throw LoadError(fmt::format(
        "{}: the instrumented module does not validate ({}); this is a bug in the engine's "
        "instrument(), not in the module",
        label, errors.empty() ? "no message" : errors.front().message));
  }
}

std::vector<uint8_t> write(const wabt::Module& m, std::string_view label) {
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions options(supported_features(), /*canonicalize_lebs=*/true,
                                   /*relocatable=*/false, /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &m, options))) {
    throw LoadError(fmt::format("{}: cannot write the instrumented module (a bug in the engine)", label));
  }
  return std::move(stream.output_buffer().data);
}

}  // namespace

namespace {

std::vector<uint8_t> instrument_here(std::span<const uint8_t> wasm, std::string_view label,
                                     InstrumentStats* stats_out, InstrumentOptions options) {
  wabt::Module m;
  read_module(wasm, label, &m);
  if (m.GetExport(kFuelExport)) {
    throw LoadError(fmt::format("{}: exports \"{}\", a name the engine reserves for itself", label,
                                kFuelExport));
  }
  // Fewer checks on the hottest code, by copying it (unroll.hpp); on the module as read.
  std::unordered_map<const wabt::LoopExpr*, uint32_t> unrolled;
  uint32_t cloned = 0;
  if (options.fuel_checks && options.unroll) {
    size_t budget = copy_budget(m);
    cloned = clone_small_recursion(m, budget);
    unrolled = unroll_small_loops(m, budget);
  }
  // Order matters: renumber the module's own references before anything refers to the new imports.
  shift_all_function_indices(m);
  add_host_imports(m);
  const Index fuel_global = add_fuel_global(m);

  InstrumentStats stats;
  stats.loops_unrolled = static_cast<uint32_t>(unrolled.size());
  stats.functions_cloned = cloned;
  const CallTargets targets(m);  // before any function gets its checks (calls to the host)
  CodeRewriter rewriter(m, targets, fuel_global, stats, options.fuel_checks, unrolled);
  for (Index i = m.num_func_imports; i < m.funcs.size(); ++i) rewriter.function(*m.funcs[i]);

  validate(m, label);
  auto out = write(m, label);
  if (stats_out) *stats_out = stats;
  return out;
}

}  // namespace

std::vector<uint8_t> instrument(std::span<const uint8_t> wasm, std::string_view label,
                                InstrumentStats* stats_out, InstrumentOptions options) {
  return with_module_stack([&] { return instrument_here(wasm, label, stats_out, options); });
}

}  // namespace theater::engine
