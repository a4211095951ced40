// theater replay <actor>... | --all --data DIR: feeds each actor's recorded inputs (messages,
// init, calls, and the recorded results of its host calls) to a fresh instance of the module it
// ran, and checks that every state commit, reply and host call comes out the same. Prints the
// first divergence (exit code 1), or what matched.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/data_dir.hpp"
#include "state/blob_store.hpp"
#include "state/replay.hpp"

namespace theater::cli {

void add_replay_command(CLI::App& app) {
  struct Options {
    ActorArgs actor;
    std::string engine = "aot";
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("replay", "Replay actors' recorded inputs and check every state hash");
  add_actor_args(cmd, o->actor, true);
  cmd->add_option("--engine", o->engine, "aot (default) or interp")->check(CLI::IsMember({"aot", "interp"}));
  cmd->add_flag("--json", o->json, "One JSON object per actor");
  cmd->callback([o] {
    guarded([&] {
      auto store = open_store(o->actor);
      BlobStore blobs(std::filesystem::path(o->actor.data_dir) / "blobs");
      state::ReplayOptions options;
      options.tier = o->engine == "interp" ? engine::Tier::Interp : engine::Tier::Aot;
      int failed = 0;
      for (const auto& id : resolve_actors(*store, o->actor)) {
        const auto r = state::replay(*store, blobs, id, options);
        if (!r.ok) ++failed;
        if (o->json) {
          nlohmann::json j{{"actor", id},           {"ok", r.ok},
                           {"events", r.events},    {"commits_checked", r.commits_checked},
                           {"replies_checked", r.replies_checked}, {"host_calls_fed", r.host_calls_fed},
                           {"handlers_skipped", r.handlers_skipped}};
          if (r.diverged_at) j["diverged_at"] = *r.diverged_at;
          if (!r.ok) j["message"] = r.message;
          std::cout << j.dump() << '\n';
        } else if (r.ok) {
          std::cout << fmt::format("ok        {}: {} events; {} state commits, {} replies and {} host calls matched{}\n", id,
                                   r.events, r.commits_checked, r.replies_checked, r.host_calls_fed,
                                   r.handlers_skipped ? fmt::format(" ({} handlers that timed out live skipped)", r.handlers_skipped) : "");
        } else {
          std::cout << fmt::format("{}  {}: {}\n", r.diverged_at ? "DIVERGED" : "FAILED  ", id, r.message);
        }
      }
      std::cout.flush();
      return failed ? 1 : 0;
    });
  });
}

}  // namespace theater::cli
