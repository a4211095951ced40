#include "engine/resolve.hpp"

#include <fmt/format.h>

#include "engine/instrument.hpp"

namespace theater::engine {

namespace {
uint64_t builtin_refuel(Instance&, const uint64_t*) { return kDefaultFuel; }
}  // namespace

uint64_t builtin_memory_grow(Instance& instance, const uint64_t* args) {
  const auto delta = static_cast<uint32_t>(args[0]);
  const uint64_t wanted = instance.memory().size() / 65536 + delta;
  // Past the module's declared maximum the grow simply fails, as in wasm.
  if (wanted > instance.declared_max_pages()) return UINT32_MAX;
  // Past our limit it is a failure of the actor (actor-abi.md), not a quiet -1.
  const uint32_t limit = instance.limits.max_memory_pages;
  if (wanted > limit) {
    instance.raise({TrapKind::MemoryLimit,
                    fmt::format("memory limit exceeded: grow to {} pages ({} MiB), limit {} pages ({} MiB)",
                                wanted, wanted / 16, limit, limit / 16)});
    return UINT32_MAX;
  }
  auto old = instance.grow_memory(delta);
  return old ? *old : UINT32_MAX;
}

std::vector<HostFunction> resolve_imports(const ModuleInfo& info, const Linker& linker,
                                          std::string_view label) {
  std::vector<HostFunction> slots;
  slots.reserve(info.imports.size());
  for (const auto& imp : info.imports) {
    if (imp.module == kHostModule && imp.name == kGrowImport) {
      slots.push_back(builtin_memory_grow);
      continue;
    }
    const HostImport* host = linker.find(imp.module, imp.name);
    if (!host) {
      if (imp.module == kHostModule && imp.name == kFuelImport) {
        slots.push_back(builtin_refuel);
        continue;
      }
      throw LoadError(fmt::format("{}: import {}.{} is not provided by the runtime", label,
                                  imp.module, imp.name));
    }
    if (!(host->sig == imp.sig)) {
      throw LoadError(fmt::format("{}: import {}.{} has signature {}, expected {}", label,
                                  imp.module, imp.name, imp.sig.str(), host->sig.str()));
    }
    slots.push_back(host->fn);
  }
  return slots;
}

PreparedModule prepare_module(std::span<const uint8_t> wasm, const Linker& linker,
                              std::string_view label, bool fuel_checks) {
  PreparedModule p;
  p.info = inspect(wasm, label);
  p.instrumented = instrument(wasm, label, nullptr, InstrumentOptions{.fuel_checks = fuel_checks});
  p.linked = inspect(p.instrumented, label);
  p.slots = resolve_imports(p.linked, linker, label);
  return p;
}

}  // namespace theater::engine
