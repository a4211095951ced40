// theater inspect-module <file.wasm>: what a module imports and exports, and whether it satisfies
// the actor ABI (the same checks `run` makes, without running anything).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "actor/manifest.hpp"
#include "base/files.hpp"
#include "cli/commands.hpp"
#include "engine/engine.hpp"

namespace theater::cli {

void add_inspect_command(CLI::App& app) {
  struct Options {
    std::string file;
    std::vector<std::string> handlers;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("inspect-module", "Show a module's imports and exports and check it against the ABI");
  cmd->add_option("file", o->file, "A .wasm file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--handlers", o->handlers, "Handlers to assume granted (default: all)");
  cmd->add_flag("--json", o->json, "JSON output");
  cmd->callback([o] {
    try {
      auto bytes = read_file_bytes(o->file);
      auto info = engine::inspect(bytes, o->file);
      std::vector<std::string> granted = o->handlers;
      if (granted.empty()) granted.assign(std::begin(kKnownHandlers), std::end(kKnownHandlers));
      std::string verdict = "ok";
      try {
        abi::check_imports(info, granted, o->file);
        abi::check_exports(info, o->file);
      } catch (const std::exception& e) {
        verdict = e.what();
      }
      if (o->json) {
        nlohmann::json j;
        j["sha256"] = info.sha256;
        for (const auto& i : info.imports) j["imports"].push_back(i.module + "." + i.name + " " + i.sig.str());
        for (const auto& e : info.functions) j["exports"].push_back(e.name + " " + e.sig.str());
        j["abi"] = verdict;
        std::cout << j.dump(2) << std::endl;
      } else {
        fmt::print("module   {}\nsha256   {}\nmemory   {} pages initial\n", o->file, info.sha256,
                   info.memory_initial_pages);
        for (const auto& i : info.imports) fmt::print("import   {}.{} {}\n", i.module, i.name, i.sig.str());
        for (const auto& e : info.functions) fmt::print("export   {} {}\n", e.name, e.sig.str());
        fmt::print("abi      {}\n", verdict);
      }
      set_exit_code(verdict == "ok" ? 0 : 1);
    } catch (const std::exception& e) {
      fmt::print(stderr, "error: {}\n", e.what());
      set_exit_code(2);
    }
  });
}

}  // namespace theater::cli
