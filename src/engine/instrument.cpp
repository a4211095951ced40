// The module rewrite described in instrument.hpp, on wabt's IR. The module is read without debug
// names, so every reference in the IR is a plain index; the output carries no name section (wabt
// keeps no custom sections), so nothing can describe the old index space.
#include "engine/instrument.hpp"

#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/stream.h>

#include <optional>

#include <fmt/format.h>

#include "engine/engine.hpp"
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

// Calls fn on each expression list nested directly in e: block and loop bodies, if arms and
// try bodies (exceptions are refused before we get here, but a walk that skipped a body would
// silently leave stale indices in it).
template <typename Fn>
void for_each_body(wabt::Expr& e, Fn&& fn) {
  switch (e.type()) {
    case wabt::ExprType::Block: fn(cast<wabt::BlockExpr>(&e)->block.exprs); break;
    case wabt::ExprType::Loop: fn(cast<wabt::LoopExpr>(&e)->block.exprs); break;
    case wabt::ExprType::If:
      fn(cast<wabt::IfExpr>(&e)->true_.exprs);
      fn(cast<wabt::IfExpr>(&e)->false_);
      break;
    case wabt::ExprType::Try:
      fn(cast<wabt::TryExpr>(&e)->block.exprs);
      for (auto& c : cast<wabt::TryExpr>(&e)->catches) fn(c.exprs);
      break;
    default: break;
  }
}

// ---- renumbering -------------------------------------------------------------------------------

void shift(wabt::Var& func) { func.set_index(func.index() + kHostFuncs); }

void shift_functions_in(wabt::ExprList& list) {
  for (auto& e : list) {
    switch (e.type()) {
      case wabt::ExprType::Call: shift(cast<wabt::CallExpr>(&e)->var); break;
      case wabt::ExprType::ReturnCall: shift(cast<wabt::ReturnCallExpr>(&e)->var); break;
      case wabt::ExprType::RefFunc: shift(cast<wabt::RefFuncExpr>(&e)->var); break;
      default: for_each_body(e, shift_functions_in); break;
    }
  }
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

bool is_call(const wabt::Expr& e) {
  switch (e.type()) {
    case wabt::ExprType::Call:
    case wabt::ExprType::CallIndirect:
    case wabt::ExprType::CallRef:
    case wabt::ExprType::ReturnCall:
    case wabt::ExprType::ReturnCallIndirect: return true;
    default: return false;
  }
}

bool is_loop(const wabt::Expr& e) { return e.type() == wabt::ExprType::Loop; }

bool contains(wabt::ExprList& list, bool (*pred)(const wabt::Expr&)) {
  for (auto& e : list) {
    if (pred(e)) return true;
    bool found = false;
    for_each_body(e, [&](wabt::ExprList& body) { found = found || contains(body, pred); });
    if (found) return true;
  }
  return false;
}

// Plants fuel checks at function entries and on the branches back to loop heads, and routes
// memory.grow to the host. Runs after the renumbering, with the final indices.
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
//  - A function that calls only reads the global, at its entry and on its loops' back edges:
//    `if (fuel < 0) fuel = __fuel_exhausted(fuel)`. Decrementing there chained every call
//    through memory (the caller stored its count, the callee loaded, decremented and stored it,
//    the caller loaded it back), which cost a recursive fib 95% and a recursive-descent parser
//    40% (bench/kernels.c). Such a function spends no fuel; what makes the global negative in
//    it is the host (Instance::interrupt: the scheduler's watchdog does it to a turn that has
//    run past its time slice), or a leaf it called that used the fuel up.
//  - A function with neither runs for a bounded time, and has no check.
// The exhausted call takes the count and returns the new one, so its path stores nothing but
// the global: the AOT tier can then make it a call that the compiler knows leaves memory alone.
class CodeRewriter {
 public:
  CodeRewriter(wabt::Module& m, Index fuel_global, InstrumentStats& stats, bool fuel_checks)
      : module_(m), fuel_global_(fuel_global), stats_(stats), fuel_checks_(fuel_checks) {}

  void function(wabt::Func& f) {
    // Decided before memory.grow becomes a call to the host (a leaf that grows stays a leaf).
    const bool calls = contains(f.exprs, is_call);
    fuel_local_.reset();
    if (fuel_checks_ && !calls && contains(f.exprs, is_loop)) {
      f.local_types.AppendDecl(wabt::Type::I32, 1);
      fuel_local_ = f.GetNumParamsAndLocals() - 1;
    }
    labels_.assign(1, false);  // the function's own label: a branch to it returns
    rewrite(f.exprs);
    if (!fuel_local_) {
      // Only a function that calls can run unboundedly without passing a loop's back edge
      // (recursion); a leaf without loops cannot.
      if (calls) prepend_fuel_check(f.exprs);
      return;
    }
    // local = fuel; [entry check]; block (results) <body> end; fuel = local
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
  void rewrite(wabt::ExprList& list) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (it->type() == wabt::ExprType::MemoryGrow) {
        // Same stack effect, (i32) -> i32, so the call drops in where the instruction was.
        // (The host's grow neither reads nor sets the fuel: no store around it.)
        it = list.insert(it, std::make_unique<wabt::CallExpr>(index_var(kGrowFunc)));
        list.erase(std::next(it));
        ++stats_.grows_routed;
        continue;
      }
      if (branches_to_a_loop(*it)) {
        // Stack-neutral, so it fits under a branch's operands; before a br_if it also runs when
        // the branch is not taken, once per exit from the loop.
        wabt::ExprList check = fuel_check();
        list.splice(it, check);
      }
      for_each_body(*it, [&](wabt::ExprList& body) {
        labels_.push_back(is_loop(*it));
        rewrite(body);
        labels_.pop_back();
      });
      // A leaf counting in its local hands the count back before it returns (it makes no calls,
      // memory.grow aside, and the host's grow neither reads nor sets the fuel).
      if (fuel_local_ && it->type() == wabt::ExprType::Return) {
        wabt::ExprList before = store_local();
        list.splice(it, before);
      }
    }
  }

  // A branch instruction with a loop among its targets (labels are depths: 0 = innermost).
  bool branches_to_a_loop(const wabt::Expr& e) const {
    auto is_loop_label = [&](const wabt::Var& v) {
      const Index depth = v.index();
      return depth < labels_.size() && labels_[labels_.size() - 1 - depth];
    };
    switch (e.type()) {
      case wabt::ExprType::Br: return is_loop_label(cast<wabt::BrExpr>(&e)->var);
      case wabt::ExprType::BrIf: return is_loop_label(cast<wabt::BrIfExpr>(&e)->var);
      case wabt::ExprType::BrTable: {
        const auto* table = cast<wabt::BrTableExpr>(&e);
        if (is_loop_label(table->default_target)) return true;
        for (const auto& target : table->targets) {
          if (is_loop_label(target)) return true;
        }
        return false;
      }
      default: return false;
    }
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
  //   local -= 1; if (local < 0) local = __fuel_exhausted(local);     in a leaf with loops
  //   if (fuel < 0) fuel = __fuel_exhausted(fuel);                     in a function that calls
  wabt::ExprList fuel_check() {
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
      check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(1)));
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

  void prepend_fuel_check(wabt::ExprList& list) {
    wabt::ExprList check = fuel_check();
    list.splice(list.begin(), check);
  }

  wabt::Module& module_;
  Index fuel_global_;
  InstrumentStats& stats_;
  bool fuel_checks_;
  std::optional<Index> fuel_local_;  // the function being rewritten counts in this local (a leaf)
  std::vector<bool> labels_;         // enclosing labels, outermost first: true for a loop
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

std::vector<uint8_t> instrument(std::span<const uint8_t> wasm, std::string_view label,
                                InstrumentStats* stats_out, InstrumentOptions options) {
  wabt::Module m;
  read_module(wasm, label, &m);
  if (m.GetExport(kFuelExport)) {
    throw LoadError(fmt::format("{}: exports \"{}\", a name the engine reserves for itself", label,
                                kFuelExport));
  }
  // Order matters: renumber the module's own references before anything refers to the new imports.
  shift_all_function_indices(m);
  add_host_imports(m);
  const Index fuel_global = add_fuel_global(m);

  InstrumentStats stats;
  CodeRewriter rewriter(m, fuel_global, stats, options.fuel_checks);
  for (Index i = m.num_func_imports; i < m.funcs.size(); ++i) rewriter.function(*m.funcs[i]);

  validate(m, label);
  auto out = write(m, label);
  if (stats_out) *stats_out = stats;
  return out;
}

}  // namespace theater::engine
