// theater verify <actor>... | --all --data DIR: checks each actor's event chain (every hash, every
// link, no gap) and that its stored state is the one its last commit recorded. Prints the chain's
// head hash (keep it elsewhere to detect a rewrite of the whole tail), or the first broken link.
// Exit code 1 if any chain is broken.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/data_dir.hpp"

namespace theater::cli {

void add_verify_command(CLI::App& app) {
  struct Options {
    ActorArgs actor;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("verify", "Check actors' event chains and stored states");
  add_actor_args(cmd, o->actor, true);
  cmd->add_flag("--json", o->json, "One JSON object per actor");
  cmd->callback([o] {
    guarded([&] {
      auto store = open_store(o->actor);
      int broken_count = 0;
      for (const auto& id : resolve_actors(*store, o->actor)) {
        const auto broken = store->verify(id);
        nlohmann::json j{{"actor", id}, {"ok", !broken}};
        if (broken) {
          ++broken_count;
          j["broken_at"] = broken->seq;
          j["reason"] = broken->reason;
        } else {
          const auto events = store->events(id);  // readable: verify read them
          j["events"] = events.size();
          j["head"] = state::hex(events.back().hash);
        }
        if (o->json) {
          std::cout << j.dump() << '\n';
        } else if (broken) {
          std::cout << fmt::format("BROKEN  {}: first broken link at event {}: {}\n", id, broken->seq, broken->reason);
        } else {
          std::cout << fmt::format("ok      {}: {} events, head {}\n", id, j["events"].get<size_t>(),
                                   j["head"].get<std::string>());
        }
      }
      std::cout.flush();
      return broken_count ? 1 : 0;
    });
  });
}

}  // namespace theater::cli
