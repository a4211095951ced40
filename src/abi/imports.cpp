#include "abi/imports.hpp"

namespace theater::abi {

engine::FuncSig sig(std::string_view params, std::string_view results) {
  auto conv = [](std::string_view s) {
    std::vector<engine::ValType> out;
    for (char c : s) out.push_back(c == 'I' ? engine::ValType::I64 : engine::ValType::I32);
    return out;
  };
  return {conv(params), conv(results)};
}

const std::vector<HostImportSpec>& all_imports() {
  static const std::vector<HostImportSpec> table = [] {
    std::vector<HostImportSpec> t;
    for (auto part : {runtime_imports, message_imports, supervisor_imports, timing_imports,
                      random_imports, store_imports, wasi_imports}) {
      auto p = part();
      t.insert(t.end(), p.begin(), p.end());
    }
    return t;
  }();
  return table;
}

const HostImportSpec* find_import(std::string_view module, std::string_view name) {
  for (const auto& spec : all_imports()) {
    if (spec.module == module && spec.name == name) return &spec;
  }
  return nullptr;
}

const std::vector<std::pair<std::string_view, engine::FuncSig>>& abi_exports() {
  static const std::vector<std::pair<std::string_view, engine::FuncSig>> table = {
      {"theater_alloc", sig("i", "i")},
      {"theater_init", sig("iii", "i")},
      {"theater_handle_send", sig("ii", "i")},
      {"theater_handle_request", sig("ii", "i")},
      {"theater_handle_child_error", sig("iiii", "i")},
      {"theater_handle_child_exit", sig("iiii", "i")},
      {"theater_handle_timer", sig("I", "i")},
      {"theater_handle_channel_open", sig("iiii", "i")},
      {"theater_handle_channel_message", sig("iiii", "i")},
      {"theater_handle_channel_close", sig("ii", "i")},
      {"theater_handle_down", sig("iiii", "i")},
      {"theater_shutdown", sig("", "i")},
  };
  return table;
}

}  // namespace theater::abi
