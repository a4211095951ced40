#pragma once
// What the durable-state subcommands (events, verify, replay, upgrade) share: the --data option,
// opening its store to read, and naming actors by id or by name.
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "state/store.hpp"

namespace theater::cli {

struct ActorArgs {
  std::string data_dir;
  std::vector<std::string> actors;  // ids or names
  bool all = false;
};

// Adds `actors...`, --data (required) and, if allow_all, --all.
void add_actor_args(CLI::App* cmd, ActorArgs& args, bool allow_all);
// The store in --data, opened to read. Throws state::StoreError.
std::unique_ptr<state::Store> open_store(const ActorArgs& args);
// The ids the arguments name (every stored actor for --all). Throws state::StoreError.
std::vector<std::string> resolve_actors(const state::Store& store, const ActorArgs& args);

}  // namespace theater::cli
