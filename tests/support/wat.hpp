#pragma once
// Test helpers around wabt's command-line tools: WebAssembly text -> binary (wat2wasm), and running
// a tool (wasm2wat, wasm-validate, wasm-interp, wasm-objdump ...) on a module.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/process.hpp"

namespace theater::test {

// Throws std::runtime_error with wat2wasm's message if the text does not assemble.
// extra_flag: one more wat2wasm option, e.g. "--enable-threads" or "--no-check".
std::vector<uint8_t> wat_to_wasm(std::string_view wat, std::string_view extra_flag = "");

// Runs `tool flags... module.wasm` on the module (written to a temporary file); flags go before
// the file because wasm-interp passes whatever follows it to the module.
ProcessResult run_wabt_tool(std::string_view tool, std::span<const uint8_t> wasm,
                            const std::vector<std::string>& flags = {});

// The module as text; throws std::runtime_error with wasm2wat's message if it fails.
std::string wasm_to_wat(std::span<const uint8_t> wasm);

// A module whose one function, exported as "f", is `depth` nested empty blocks (binary, made
// here: wat2wasm's own parser recurses once per level).
std::vector<uint8_t> deeply_nested_module(size_t depth);

}  // namespace theater::test
