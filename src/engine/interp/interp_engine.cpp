// The interpreter tier behind engine.hpp: validation, instrumentation and import resolution as on
// the AOT tier, then wabt's interpreter (interp_backend.*) runs the instrumented module.
#include "engine/interp/interp_engine.hpp"

#include <fmt/format.h>

#include <mutex>
#include <unordered_map>

#include "engine/instrument.hpp"
#include "engine/interp/interp_backend.hpp"
#include "engine/resolve.hpp"

namespace theater::engine {

namespace {

TrapKind kind_of(interp::TrapCode c) {
  switch (c) {
    case interp::TrapCode::Unreachable: return TrapKind::Unreachable;
    case interp::TrapCode::OutOfBounds: return TrapKind::OutOfBounds;
    case interp::TrapCode::DivideByZero: return TrapKind::DivideByZero;
    case interp::TrapCode::IntegerOverflow: return TrapKind::IntegerOverflow;
    case interp::TrapCode::InvalidConversion: return TrapKind::InvalidConversion;
    case interp::TrapCode::IndirectCallMismatch: return TrapKind::IndirectCallMismatch;
    case interp::TrapCode::StackExhausted: return TrapKind::StackExhausted;
    default: return TrapKind::Host;
  }
}

class InterpModule;

class InterpEngineInstance final : public Instance {
 public:
  InterpEngineInstance(std::shared_ptr<const InterpModule> module, const InstanceLimits& limits, void* user);

  bool has_function(std::string_view name) const override { return backend_->has_function(std::string(name)); }
  std::optional<Trap> call(std::string_view name, std::span<const uint64_t> args,
                           std::span<uint64_t> results) override {
    uint64_t scratch[8] = {};
    auto out = backend_->call(std::string(name), args.data(), args.size(),
                              results.empty() ? scratch : results.data(),
                              results.empty() ? 8 : results.size());
    if (out.code == interp::TrapCode::None) return std::nullopt;
    if (out.code == interp::TrapCode::Host && pending_) {
      Trap trap = std::move(*pending_);
      pending_.reset();
      return trap;
    }
    return Trap{kind_of(out.code), out.message};
  }
  std::span<uint8_t> memory() override { return {backend_->memory_data(), backend_->memory_size()}; }
  std::optional<uint32_t> grow_memory(uint32_t delta) override {
    uint32_t old = 0;
    if (!backend_->grow_memory(delta, &old)) return std::nullopt;
    return old;
  }
  uint32_t declared_max_pages() const override;
  void set_fuel(int32_t units) override { backend_->set_global_i32(std::string(kFuelExport), units); }

 private:
  std::shared_ptr<const InterpModule> module_;
  std::unique_ptr<interp::InterpInstance> backend_;
};

class InterpModule final : public Module, public std::enable_shared_from_this<InterpModule> {
 public:
  InterpModule(ModuleInfo info, std::shared_ptr<const interp::ParsedModule> parsed,
               std::vector<HostFunction> slots)
      : parsed_(std::move(parsed)), slots_(std::move(slots)) {
    info_ = std::move(info);
  }
  std::unique_ptr<Instance> instantiate(const InstanceLimits& limits, void* user) override {
    if (info_.memory_initial_pages > limits.max_memory_pages) {
      throw LoadError(fmt::format("module needs {} pages of memory at start, the limit is {}",
                                  info_.memory_initial_pages, limits.max_memory_pages));
    }
    return std::make_unique<InterpEngineInstance>(shared_from_this(), limits, user);
  }
  Tier tier() const override { return Tier::Interp; }
  const std::shared_ptr<const interp::ParsedModule>& parsed() const { return parsed_; }
  const std::vector<HostFunction>& slots() const { return slots_; }

 private:
  std::shared_ptr<const interp::ParsedModule> parsed_;
  std::vector<HostFunction> slots_;
};

InterpEngineInstance::InterpEngineInstance(std::shared_ptr<const InterpModule> module,
                                           const InstanceLimits& limits, void* user)
    : module_(std::move(module)) {
  this->limits = limits;
  this->user = user;
  std::vector<interp::HostCallback> callbacks;
  for (HostFunction fn : module_->slots()) {
    callbacks.push_back([this, fn](const uint64_t* args, bool* raise) {
      uint64_t r = fn(*this, args);
      *raise = pending_.has_value();
      return r;
    });
  }
  try {
    backend_ = std::make_unique<interp::InterpInstance>(module_->parsed(), std::move(callbacks));
  } catch (const std::exception& e) {
    throw LoadError(std::string("instantiation failed: ") + e.what());
  }
  set_fuel(kDefaultFuel);
}

uint32_t InterpEngineInstance::declared_max_pages() const { return module_->info().memory_max_pages; }

class InterpEngine final : public Engine {
 public:
  Tier tier() const override { return Tier::Interp; }
  EngineStats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }
  std::shared_ptr<Module> load(std::span<const uint8_t> wasm, const Linker& linker,
                               std::string_view label) override {
    auto p = prepare_module(wasm, linker, label);
    std::shared_ptr<const interp::ParsedModule> parsed;
    {
      std::lock_guard lock(mutex_);
      if (auto it = parsed_.find(p.linked.sha256); it != parsed_.end()) {
        parsed = it->second.lock();
        if (parsed) ++stats_.memory_hits;
      }
    }
    if (!parsed) {
      std::string error;
      parsed = interp::parse_module(p.instrumented.data(), p.instrumented.size(), &error);
      if (!parsed) throw LoadError(fmt::format("{}: {}", label, error));
      std::lock_guard lock(mutex_);
      parsed_[p.linked.sha256] = parsed;
    }
    return std::make_shared<InterpModule>(std::move(p.info), std::move(parsed), std::move(p.slots));
  }

 private:
  mutable std::mutex mutex_;
  EngineStats stats_;
  std::unordered_map<std::string, std::weak_ptr<const interp::ParsedModule>> parsed_;
};

}  // namespace

std::unique_ptr<Engine> make_interp_engine(const EngineConfig&) { return std::make_unique<InterpEngine>(); }

}  // namespace theater::engine
