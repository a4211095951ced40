#pragma once
// Test helper: WebAssembly text -> binary, through the wat2wasm tool.
#include <cstdint>
#include <string_view>
#include <vector>

namespace theater::test {

// Throws std::runtime_error with wat2wasm's message if the text does not assemble.
std::vector<uint8_t> wat_to_wasm(std::string_view wat, std::string_view extra_flag = "");

}  // namespace theater::test
