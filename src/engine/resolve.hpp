#pragma once
// Import resolution shared by both tiers: which host function serves each import of a module.
#include <string_view>
#include <vector>

#include "engine/engine.hpp"

namespace theater::engine {

// For each function import of `instrumented` (in import order), the host function that serves it.
// theater.__memory_grow is always the engine's own (limits policy below); theater.__fuel_exhausted
// comes from the linker if it defines one, else a plain refuel. Throws LoadError naming the import.
std::vector<HostFunction> resolve_imports(const ModuleInfo& instrumented, const Linker& linker,
                                          std::string_view label);

// memory.grow, routed to the host by instrument(): past the module's declared maximum it returns
// -1 (wasm semantics); past the instance's limit it fails the call with TrapKind::MemoryLimit.
uint64_t builtin_memory_grow(Instance& instance, const uint64_t* args);

inline constexpr int32_t kDefaultFuel = 100000;

// What every tier does before its own work: validate, instrument, validate the result, link.
struct PreparedModule {
  ModuleInfo info;                    // the module as written (what callers see)
  std::vector<uint8_t> instrumented;  // what the tier compiles or interprets
  ModuleInfo linked;                  // the instrumented module's imports and exports
  std::vector<HostFunction> slots;    // one host function per import of `linked`
};
PreparedModule prepare_module(std::span<const uint8_t> wasm, const Linker& linker,
                              std::string_view label, bool fuel_checks = true);

}  // namespace theater::engine
