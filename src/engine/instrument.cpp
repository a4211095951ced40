// The module rewrite described in instrument.hpp, on wabt's IR.
#include "engine/instrument.hpp"

#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/stream.h>

#include <fmt/format.h>

#include "engine/engine.hpp"
#include "engine/wabt_util.hpp"

namespace theater::engine {

namespace {

using wabt::Index;

constexpr uint32_t kInitialFuel = 10000;

// Appends a function type and returns its index (type indices never shift).
Index add_func_type(wabt::Module& m, wabt::TypeVector params, wabt::TypeVector results) {
  auto field = std::make_unique<wabt::TypeModuleField>();
  auto type = std::make_unique<wabt::FuncType>();
  type->sig.param_types = std::move(params);
  type->sig.result_types = std::move(results);
  m.types.push_back(type.get());
  field->type = std::move(type);
  m.fields.push_back(std::move(field));
  return static_cast<Index>(m.types.size() - 1);
}

// Appends a function import after the existing ones. Callers shift defined functions first.
void add_func_import(wabt::Module& m, std::string_view name, Index type,
                     wabt::TypeVector params, wabt::TypeVector results) {
  auto import = std::make_unique<wabt::FuncImport>();
  import->module_name = std::string(kHostModule);
  import->field_name = std::string(name);
  import->func.decl.has_func_type = true;
  import->func.decl.type_var = wabt::Var(type, wabt::Location());
  import->func.decl.sig.param_types = std::move(params);
  import->func.decl.sig.result_types = std::move(results);
  m.funcs.insert(m.funcs.begin() + m.num_func_imports, &import->func);
  m.imports.push_back(import.get());
  ++m.num_func_imports;
  m.fields.push_back(std::make_unique<wabt::ImportModuleField>(std::move(import)));
}

// Every reference to a function index at or past `first` moves up by `by`.
class FunctionShifter {
 public:
  FunctionShifter(Index first, Index by) : first_(first), by_(by) {}

  void var(wabt::Var& v) const {
    if (v.is_index() && v.index() >= first_) v.set_index(v.index() + by_);
  }
  void exprs(wabt::ExprList& list) const {
    for (auto& e : list) expr(e);
  }

 private:
  void expr(wabt::Expr& e) const {
    using wabt::cast;
    switch (e.type()) {
      case wabt::ExprType::Call: var(cast<wabt::CallExpr>(&e)->var); break;
      case wabt::ExprType::ReturnCall: var(cast<wabt::ReturnCallExpr>(&e)->var); break;
      case wabt::ExprType::RefFunc: var(cast<wabt::RefFuncExpr>(&e)->var); break;
      case wabt::ExprType::Block: exprs(cast<wabt::BlockExpr>(&e)->block.exprs); break;
      case wabt::ExprType::Loop: exprs(cast<wabt::LoopExpr>(&e)->block.exprs); break;
      case wabt::ExprType::If: {
        auto* i = cast<wabt::IfExpr>(&e);
        exprs(i->true_.exprs);
        exprs(i->false_);
        break;
      }
      case wabt::ExprType::Try: {
        auto* t = cast<wabt::TryExpr>(&e);
        exprs(t->block.exprs);
        for (auto& c : t->catches) exprs(c.exprs);
        break;
      }
      default: break;
    }
  }

  Index first_, by_;
};

void shift_functions(wabt::Module& m, Index first, Index by) {
  FunctionShifter shift(first, by);
  for (wabt::Func* f : m.funcs) shift.exprs(f->exprs);
  for (wabt::Export* ex : m.exports) {
    if (ex->kind == wabt::ExternalKind::Func) shift.var(ex->var);
  }
  for (wabt::Var* start : m.starts) shift.var(*start);
  for (wabt::ElemSegment* seg : m.elem_segments) {
    for (auto& list : seg->elem_exprs) shift.exprs(list);
  }
  for (wabt::Global* g : m.globals) shift.exprs(g->init_expr);
}

// Plants the fuel check and reroutes memory.grow, walking nested blocks.
class Planter {
 public:
  Planter(Index fuel_global, Index fuel_func, Index grow_func, InstrumentStats& stats)
      : fuel_global_(fuel_global), fuel_func_(fuel_func), grow_func_(grow_func), stats_(stats) {}

  void function(wabt::Func& f) {
    walk(f.exprs);
    plant_check(f.exprs);
  }

 private:
  wabt::Var idx(Index i) const { return wabt::Var(i, wabt::Location()); }

  // fuel = fuel - 1; if (fuel < 0) __fuel_exhausted();
  void plant_check(wabt::ExprList& list) {
    wabt::ExprList check;
    check.push_back(std::make_unique<wabt::GlobalGetExpr>(idx(fuel_global_)));
    check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(1)));
    check.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I32Sub));
    check.push_back(std::make_unique<wabt::GlobalSetExpr>(idx(fuel_global_)));
    check.push_back(std::make_unique<wabt::GlobalGetExpr>(idx(fuel_global_)));
    check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(0)));
    check.push_back(std::make_unique<wabt::CompareExpr>(wabt::Opcode::I32LtS));
    auto branch = std::make_unique<wabt::IfExpr>();
    branch->true_.exprs.push_back(std::make_unique<wabt::CallExpr>(idx(fuel_func_)));
    check.push_back(std::move(branch));
    list.splice(list.begin(), check);
    ++stats_.fuel_checks;
  }

  void walk(wabt::ExprList& list) {
    using wabt::cast;
    for (auto it = list.begin(); it != list.end(); ++it) {
      switch (it->type()) {
        case wabt::ExprType::MemoryGrow: {
          auto call = std::make_unique<wabt::CallExpr>(idx(grow_func_));
          it = list.insert(it, std::move(call));
          list.erase(std::next(it));
          ++stats_.grows_routed;
          break;
        }
        case wabt::ExprType::Block: walk(cast<wabt::BlockExpr>(&*it)->block.exprs); break;
        case wabt::ExprType::Loop: {
          auto& body = cast<wabt::LoopExpr>(&*it)->block.exprs;
          walk(body);
          plant_check(body);
          break;
        }
        case wabt::ExprType::If: {
          auto* i = cast<wabt::IfExpr>(&*it);
          walk(i->true_.exprs);
          walk(i->false_);
          break;
        }
        default: break;
      }
    }
  }

  Index fuel_global_, fuel_func_, grow_func_;
  InstrumentStats& stats_;
};

}  // namespace

std::vector<uint8_t> instrument(std::span<const uint8_t> wasm, std::string_view label,
                                InstrumentStats* stats_out) {
  wabt::Module m;
  read_module(wasm, label, &m);
  InstrumentStats stats;

  const Index first_defined = m.num_func_imports;
  shift_functions(m, first_defined, 2);
  const Index fuel_func = first_defined, grow_func = first_defined + 1;
  add_func_import(m, kFuelImport, add_func_type(m, {}, {}), {}, {});
  add_func_import(m, kGrowImport, add_func_type(m, {wabt::Type::I32}, {wabt::Type::I32}),
                  {wabt::Type::I32}, {wabt::Type::I32});

  // The fuel counter: a mutable global appended last, so no global index moves.
  auto global = std::make_unique<wabt::GlobalModuleField>();
  global->global.type = wabt::Type::I32;
  global->global.mutable_ = true;
  global->global.init_expr.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I32(kInitialFuel)));
  const auto fuel_global = static_cast<Index>(m.globals.size());
  m.globals.push_back(&global->global);
  m.fields.push_back(std::move(global));
  auto fuel_export = std::make_unique<wabt::ExportModuleField>();
  fuel_export->export_.name = std::string(kFuelExport);
  fuel_export->export_.kind = wabt::ExternalKind::Global;
  fuel_export->export_.var = wabt::Var(fuel_global, wabt::Location());
  m.exports.push_back(&fuel_export->export_);
  m.fields.push_back(std::move(fuel_export));

  Planter planter(fuel_global, fuel_func, grow_func, stats);
  for (Index i = m.num_func_imports; i < m.funcs.size(); ++i) planter.function(*m.funcs[i]);

  wabt::Errors errors;
  wabt::ValidateOptions vopts(supported_features());
  if (wabt::Failed(wabt::ValidateModule(&m, &errors, vopts))) {
    throw LoadError(fmt::format("{}: internal error: the instrumented module does not validate: {}",
                                label, errors.empty() ? "?" : errors.front().message));
  }
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions wopts(supported_features(), /*canonicalize_lebs=*/true,
                                 /*relocatable=*/false, /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &m, wopts))) {
    throw LoadError(fmt::format("{}: internal error: cannot write the instrumented module", label));
  }
  if (stats_out) *stats_out = stats;
  return std::move(stream.output_buffer().data);
}

}  // namespace theater::engine
