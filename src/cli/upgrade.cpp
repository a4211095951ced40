// theater upgrade <actor> <new.wasm | manifest.toml> --data DIR: hot code upgrade of an actor in
// a stored tree. The tree is brought back in this process (the data dir must not be in use by
// another runtime: a running one is upgraded through Runtime::upgrade, e.g. by the server), the
// actor gets the new version (theater_init reason 2 with its committed state), and the tree is
// stored again: the next `theater run --data DIR` runs the new version. If the new version fails
// its init, the old one stays and the reason is printed (exit code 1).
#include <fmt/format.h>

#include "actor/runtime.hpp"
#include "cli/commands.hpp"
#include "cli/data_dir.hpp"

namespace theater::cli {

void add_upgrade_command(CLI::App& app) {
  struct Options {
    std::string actor, data_dir;
    std::string next;
    std::string engine = "aot";
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("upgrade", "Hot code upgrade of an actor in a stored tree");
  cmd->add_option("actor", o->actor, "The actor's id, or a name that one actor has")->required();
  cmd->add_option("new", o->next, "The new version: a .wasm (same manifest otherwise) or a manifest .toml")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", o->data_dir, "The data dir of the runtime (theater run --data DIR)")->required();
  cmd->add_option("--engine", o->engine, "aot (default) or interp")->check(CLI::IsMember({"aot", "interp"}));
  cmd->callback([o] {
    guarded([&] {
      RuntimeConfig config;
      config.data_dir = o->data_dir;
      config.engine.tier = o->engine == "interp" ? engine::Tier::Interp : engine::Tier::Aot;
      Runtime runtime(config);
      const std::string id = runtime.store()->resolve_actor(o->actor);
      runtime.recover();
      if (!runtime.find(id)) throw state::StoreError(fmt::format("{} is stopped: nothing to upgrade", id));
      runtime.wait_idle(std::chrono::seconds(30));
      const auto result = runtime.upgrade(id, o->next);
      fmt::print("{}: {}\n", result.ok ? "upgraded" : "rolled back", result.message);
      return result.ok ? 0 : 1;
    });
  });
}

}  // namespace theater::cli
