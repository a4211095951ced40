// The interpreter tier behind engine.hpp: validation, instrumentation and import resolution as on
// the AOT tier (prepare_module in resolve.hpp), then wabt's interpreter runs the
// instrumented module through interp_backend.hpp (the C++17 side that includes wabt's headers).
#include "engine/interp/interp_engine.hpp"

#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/stream.h>

#include <fmt/format.h>

#include <map>
#include <mutex>

#include "base/sha256.hpp"
#include "engine/interp/interp_backend.hpp"
#include "engine/resolve.hpp"
#include "engine/wabt_util.hpp"

namespace theater::engine {

namespace {

TrapKind kind_of(interp::TrapCode code) {
  switch (code) {
    case interp::TrapCode::Unreachable: return TrapKind::Unreachable;
    case interp::TrapCode::OutOfBounds: return TrapKind::OutOfBounds;
    case interp::TrapCode::DivideByZero: return TrapKind::DivideByZero;
    case interp::TrapCode::IntegerOverflow: return TrapKind::IntegerOverflow;
    case interp::TrapCode::InvalidConversion: return TrapKind::InvalidConversion;
    case interp::TrapCode::IndirectCallMismatch: return TrapKind::IndirectCallMismatch;
    case interp::TrapCode::StackExhausted: return TrapKind::StackExhausted;
    case interp::TrapCode::Host: return TrapKind::Host;
    // A trap message the backend does not know; the AOT tier reports unknown traps the same way.
    case interp::TrapCode::Other:
    case interp::TrapCode::None: break;
  }
  return TrapKind::Unreachable;
}

// ---- a guard against a wabt 1.0.32 bug ---------------------------------------------------------
// When the interpreter's call stack is full, a direct call traps ("call stack exhausted"), but a
// call_indirect records the trap and carries on as if the call had happened: the value stack is
// then wrong, and Debian's libwabt (built with assertions) aborts the process. So before every
// call_indirect this tier inserts a direct call to an empty function: it needs a frame at the same
// depth as the indirect call would, so it traps properly when there is no room, and when it
// returns there is room for the indirect call. Only the interpreter runs the rewritten module.

class IndirectCallGuard {
 public:
  explicit IndirectCallGuard(wabt::Index probe) : probe_(probe) {}

  // Returns how many call_indirects got a probe.
  size_t walk(wabt::ExprList& list) {
    size_t n = 0;
    for (auto it = list.begin(); it != list.end(); ++it) {
      switch (it->type()) {
        case wabt::ExprType::CallIndirect:
          list.insert(it, std::make_unique<wabt::CallExpr>(wabt::Var(probe_, wabt::Location())));
          ++n;
          break;
        case wabt::ExprType::Block: n += walk(wabt::cast<wabt::BlockExpr>(&*it)->block.exprs); break;
        case wabt::ExprType::Loop: n += walk(wabt::cast<wabt::LoopExpr>(&*it)->block.exprs); break;
        case wabt::ExprType::If: {
          auto* branch = wabt::cast<wabt::IfExpr>(&*it);
          n += walk(branch->true_.exprs);
          n += walk(branch->false_);
          break;
        }
        default: break;
      }
    }
    return n;
  }

 private:
  wabt::Index probe_;
};

// The module with a probe call before each call_indirect, or nothing if it has no call_indirect.
std::optional<std::vector<uint8_t>> guard_indirect_calls_here(std::span<const uint8_t> wasm,
                                                              std::string_view label) {
  wabt::Module m;
  read_module(wasm, label, &m);
  // The probe is appended after every function, so no function index moves.
  const auto probe = static_cast<wabt::Index>(m.funcs.size());
  IndirectCallGuard guard(probe);
  size_t guarded = 0;
  for (wabt::Index i = m.num_func_imports; i < m.funcs.size(); ++i) guarded += guard.walk(m.funcs[i]->exprs);
  if (guarded == 0) return std::nullopt;

  wabt::FuncSignature empty;
  wabt::Index type = m.GetFuncTypeIndex(empty);
  if (type == wabt::kInvalidIndex) {
    auto field = std::make_unique<wabt::TypeModuleField>();
    field->type = std::make_unique<wabt::FuncType>();
    m.AppendField(std::move(field));
    type = static_cast<wabt::Index>(m.types.size() - 1);
  }
  auto field = std::make_unique<wabt::FuncModuleField>();
  field->func.decl.has_func_type = true;
  field->func.decl.type_var = wabt::Var(type, wabt::Location());
  m.AppendField(std::move(field));

  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions options(supported_features(), /*canonicalize_lebs=*/true,
                                   /*relocatable=*/false, /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &m, options))) {
    throw LoadError(fmt::format("{}: internal error: cannot write the guarded module", label));
  }
  return std::move(stream.output_buffer().data);
}

// (Its walk recurses once per level of nesting: see kMaxNesting.)
std::optional<std::vector<uint8_t>> guard_indirect_calls(std::span<const uint8_t> wasm, std::string_view label) {
  return with_module_stack([&] { return guard_indirect_calls_here(wasm, label); });
}

// What loading a module's bytes produces, whatever the linker: kept in-process by SHA-256.
struct Prepared {
  ModuleInfo info;    // the module as written (what Module::info() shows)
  ModuleInfo linked;  // the instrumented module: its imports include theater.__fuel_exhausted etc.
  std::shared_ptr<const interp::ParsedModule> parsed;
};

class InterpModule final : public Module, public std::enable_shared_from_this<InterpModule> {
 public:
  InterpModule(std::shared_ptr<const Prepared> prepared, std::vector<HostFunction> slots,
               std::string label)
      : prepared_(std::move(prepared)), slots_(std::move(slots)), label_(std::move(label)) {
    info_ = prepared_->info;
  }

  std::unique_ptr<Instance> instantiate(const InstanceLimits& limits, void* user) override;
  Tier tier() const override { return Tier::Interp; }

  std::shared_ptr<const interp::ParsedModule> parsed_shared() const { return prepared_->parsed; }
  const std::vector<HostFunction>& slots() const { return slots_; }
  const std::string& label() const { return label_; }

 private:
  std::shared_ptr<const Prepared> prepared_;
  std::vector<HostFunction> slots_;  // by import index of the instrumented module
  std::string label_;
};

class InterpInstance final : public Instance {
 public:
  using Instance::call;  // (the looked-up overload: by name here)
  ~InterpInstance() override { leave_interrupt_slot(); }
  InterpInstance(std::shared_ptr<const InterpModule> module, const InstanceLimits& limits, void* user)
      : module_(std::move(module)),
        backend_(module_->parsed_shared(),
                 [this](size_t import, const uint64_t* args, uint64_t* result) {
                   return host_call(import, args, result);
                 }) {
    this->limits = limits;
    this->user = user;
  }

  // Runs segments and the start function; throws LoadError if they trap.
  void instantiate() {
    interp::CallOutcome out = backend_.instantiate();
    if (!out.ok()) {
      const Trap trap = to_trap(std::move(out));
      throw LoadError(fmt::format("{}: instantiation failed: {}", module_->label(), trap.message));
    }
    set_fuel(kDefaultFuel);  // as on the AOT tier
  }

  bool has_function(std::string_view name) const override { return backend_.has_function(name); }

  std::optional<Trap> call(std::string_view name, std::span<const uint64_t> args,
                           std::span<uint64_t> results) override {
    // The same checks and messages as the AOT tier, before anything runs.
    const FuncExport* sig = module_->info().find_function(name);
    if (!sig || !backend_.has_function(name)) {
      return Trap{TrapKind::Host, fmt::format("no exported function '{}'", name)};
    }
    if (sig->sig.params.size() != args.size() || sig->sig.results.size() > results.size()) {
      return Trap{TrapKind::Host, fmt::format("wrong number of arguments or results for '{}'", name)};
    }
    interp::CallOutcome out =
        backend_.call(name, args.data(), args.size(), results.data(), results.size());
    if (out.ok()) return std::nullopt;
    return to_trap(std::move(out));
  }

  std::span<uint8_t> memory() override { return {backend_.memory_data(), backend_.memory_size()}; }

  std::optional<uint32_t> grow_memory(uint32_t delta_pages) override {
    uint32_t old = 0;
    if (!backend_.grow_memory(delta_pages, &old)) return std::nullopt;
    return old;
  }

  uint32_t declared_max_pages() const override { return module_->info().memory_max_pages; }

  void set_fuel(int32_t units) override { backend_.set_global_i32(kFuelExport, units); }
  // (The interpreter reads the global's value at each global.get: a store from another thread
  // is seen at the next check.)
  void interrupt() override { backend_.set_global_i32(kFuelExport, -1); }

 private:
  // wasm -> host: runs the import's HostFunction; a trap it raised fails the wasm call.
  bool host_call(size_t import, const uint64_t* args, uint64_t* result) {
    *result = module_->slots()[import](*this, args);
    return !pending_.has_value();
  }

  // A failed call's trap: the one a host function raised, else the backend's.
  Trap to_trap(interp::CallOutcome out) {
    if (out.code == interp::TrapCode::Host && pending_) {
      Trap trap = std::move(*pending_);
      pending_.reset();
      return trap;
    }
    return Trap{kind_of(out.code), std::move(out.message)};
  }

  std::shared_ptr<const InterpModule> module_;
  interp::InterpInstance backend_;  // after module_: it is built from it
};

std::unique_ptr<Instance> InterpModule::instantiate(const InstanceLimits& limits, void* user) {
  if (info_.memory_initial_pages > limits.max_memory_pages) {
    throw LoadError(fmt::format("{}: module needs {} pages of memory at start, the limit is {}",
                                label_, info_.memory_initial_pages, limits.max_memory_pages));
  }
  auto instance = std::make_unique<InterpInstance>(shared_from_this(), limits, user);
  instance->instantiate();
  return instance;
}

class InterpEngine final : public Engine {
 public:
  Tier tier() const override { return Tier::Interp; }

  EngineStats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  std::shared_ptr<Module> load(std::span<const uint8_t> wasm, const Linker& linker,
                               std::string_view label) override {
    const std::string key = sha256_hex(wasm);
    if (auto hit = cached(key)) {
      // Linker-dependent, so checked on every load: the errors name this load's label.
      auto slots = resolve_imports(hit->linked, linker, label);
      return std::make_shared<InterpModule>(std::move(hit), std::move(slots), std::string(label));
    }
    PreparedModule p = prepare_module(wasm, linker, label);
    // The ABI has only function imports; the interpreter could not provide others anyway.
    if (!p.info.other_imports.empty()) {
      throw LoadError(fmt::format("{}: import {} is not provided by the runtime", label,
                                  p.info.other_imports.front()));
    }
    // Adds no import or export: `linked` describes the guarded module as well.
    if (auto guarded = guard_indirect_calls(p.instrumented, label)) p.instrumented = std::move(*guarded);
    auto prepared = std::make_shared<Prepared>();
    std::string error;
    prepared->parsed = interp::parse_module(p.instrumented.data(), p.instrumented.size(), &error);
    if (!prepared->parsed) throw LoadError(fmt::format("{}: {}", label, error));
    prepared->info = std::move(p.info);
    prepared->linked = std::move(p.linked);
    remember(key, prepared);
    return std::make_shared<InterpModule>(std::move(prepared), std::move(p.slots), std::string(label));
  }

 private:
  std::shared_ptr<const Prepared> cached(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(key);
    if (it == cache_.end()) return nullptr;
    auto hit = it->second.lock();
    if (hit) ++stats_.memory_hits;
    return hit;
  }

  void remember(const std::string& key, const std::shared_ptr<const Prepared>& prepared) {
    std::lock_guard lock(mutex_);
    // Forget modules that nobody uses any more, then remember this one.
    for (auto it = cache_.begin(); it != cache_.end();) {
      it = it->second.expired() ? cache_.erase(it) : std::next(it);
    }
    cache_[key] = prepared;
  }

  mutable std::mutex mutex_;
  EngineStats stats_;
  std::map<std::string, std::weak_ptr<const Prepared>> cache_;  // sha256 of the bytes as loaded
};

}  // namespace

std::unique_ptr<Engine> make_interp_engine(const EngineConfig&) {
  return std::make_unique<InterpEngine>();
}

}  // namespace theater::engine
