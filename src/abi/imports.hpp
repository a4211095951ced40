#pragma once
// The table of every import the ABI offers (module, name, capability, signature, host function)
// and of the exports it knows. Each capability's file contributes its part.
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/engine.hpp"

namespace theater::abi {

struct HostImportSpec {
  std::string_view module;
  std::string_view name;
  std::string_view capability;  // runtime | wasi | message-server | supervisor | timing | random | store
  engine::FuncSig sig;
  engine::HostFunction fn;
};

const std::vector<HostImportSpec>& all_imports();
const HostImportSpec* find_import(std::string_view module, std::string_view name);
const std::vector<std::pair<std::string_view, engine::FuncSig>>& abi_exports();

// Per capability (one file each).
std::vector<HostImportSpec> runtime_imports();
std::vector<HostImportSpec> message_imports();
std::vector<HostImportSpec> supervisor_imports();
std::vector<HostImportSpec> timing_imports();
std::vector<HostImportSpec> random_imports();
std::vector<HostImportSpec> store_imports();
std::vector<HostImportSpec> wasi_imports();

// Signature shorthand: sig("iii", "i") = (i32, i32, i32) -> i32; 'I' is i64.
engine::FuncSig sig(std::string_view params, std::string_view results);

}  // namespace theater::abi
