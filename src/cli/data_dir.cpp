#include "cli/data_dir.hpp"

#include <fmt/format.h>

#include "cli/commands.hpp"

namespace theater::cli {

void guarded(const std::function<int()>& body) {
  try {
    set_exit_code(body());
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    set_exit_code(2);
  }
}

void add_actor_args(CLI::App* cmd, ActorArgs& args, bool allow_all) {
  auto* actors = cmd->add_option("actor", args.actors, "Actor ids, or names that one actor has");
  cmd->add_option("--data", args.data_dir, "The data dir of the runtime (theater run --data DIR)")->required();
  if (allow_all) {
    cmd->add_flag("--all", args.all, "Every actor in the store")->excludes(actors);
  } else {
    actors->required();
  }
}

std::unique_ptr<state::Store> open_store(const ActorArgs& args) {
  return state::Store::open_read_only(args.data_dir);
}

std::vector<std::string> resolve_actors(const state::Store& store, const ActorArgs& args) {
  std::vector<std::string> ids;
  if (args.all) {
    for (const auto& a : store.actors(true)) ids.push_back(a.id);
    return ids;
  }
  if (args.actors.empty()) throw state::StoreError("name an actor (or --all)");
  for (const auto& a : args.actors) ids.push_back(store.resolve_actor(a));
  return ids;
}

}  // namespace theater::cli
