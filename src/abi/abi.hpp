#pragma once
// The actor ABI, version 1 (../shared/design/actor-abi.md): error codes, init reasons, and the
// linker that offers every import to modules. One source file per capability (handler) defines
// its host functions: runtime_imports.cpp, message_imports.cpp, supervisor_imports.cpp,
// timing_imports.cpp, random_imports.cpp, store_imports.cpp, wasi_imports.cpp.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/engine.hpp"

namespace theater::abi {

inline constexpr uint32_t kVersion = 1;

enum Rc : int32_t {
  kOk = 0,
  kEINVAL = -1,
  kENOTFOUND = -2,
  kEDENIED = -3,
  kETIMEOUT = -4,
  kEFULL = -5,
  kESTOPPED = -6,
  kETOOBIG = -7,
  kEFAILED = -8,  // added: the target failed while handling the request
};
const char* rc_name(int32_t rc);

enum InitReason : uint32_t { kFirstStart = 0, kRestart = 1, kUpgrade = 2, kResume = 3 };

// The capability that owns an import; "runtime" is always granted, "wasi" is the WASI subset.
struct ImportSpec {
  std::string_view module;
  std::string_view name;
  std::string_view capability;
};
// Which capability an import belongs to, or nullopt if the ABI has no such import.
std::optional<std::string_view> capability_of(std::string_view module, std::string_view name);

// Every host function of the ABI, for the engine.
const engine::Linker& linker();

// Checks a module's imports against the ABI and the handlers its manifest grants. Throws
// engine::LoadError naming the import and the missing handler.
void check_imports(const engine::ModuleInfo& info, const std::vector<std::string>& granted,
                   std::string_view label);
// Checks the required exports and the signatures of every ABI export the module has.
void check_exports(const engine::ModuleInfo& info, std::string_view label);

}  // namespace theater::abi
