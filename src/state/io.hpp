#pragma once
// What an actor tells its recorder, and where a replay takes recorded results from.
//
// An Actor holds an ActorIo* (null: nothing is recorded and the hooks cost one branch). A durable
// runtime gives each actor a Journal (store.hpp) that appends to its event chain; a replay gives
// it a feed (replay.cpp) that checks every call against the recording and answers host calls
// from it. The hooks sit in src/actor/actor.cpp, Runtime::record and src/abi/*_imports.cpp (see
// abi/host_io.hpp).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "state/chain.hpp"

namespace theater {
struct Message;
}
namespace theater::engine {
class Instance;
}

namespace theater::state {

// What a host call handed back to the actor: its return value and the bytes it wrote (if any).
struct HostOutcome {
  int64_t rc = 0;
  std::string bytes;
};

class ActorIo {
 public:
  virtual ~ActorIo() = default;
  virtual bool replaying() const { return false; }

  // A fresh instance was made (before _initialize and theater_init); `state` is what
  // theater_init will get.
  virtual void init(uint32_t reason, std::string_view state, std::string_view module_sha256) = 0;
  // A message is about to be handed to its handler.
  virtual void received(const Message& m) = 0;
  // Any export is about to be called; recorded are the calls that are neither messages nor init
  // (theater_shutdown, theater_handle_child_error, theater_handle_child_exit, theater_handle_down).
  virtual void invoking(std::string_view export_name, std::span<const uint64_t> args,
                        engine::Instance& instance) = 0;
  // A handler succeeded and its staged state becomes the committed one. In sync durability this
  // returns once the commit is on disk. Returns a token for commit_head (0: no chain is kept).
  virtual uint64_t committed(std::string_view state) = 0;
  // The chain head of that commit (its "committed" event), once written: what a cluster keeps
  // beside the state. nullopt: no chain, or a later commit took its place (wait for that one).
  virtual std::optional<ChainHead> commit_head(uint64_t token) { return std::nullopt; }
  // A request handler succeeded with this reply (delivered right after).
  virtual void replied(std::string_view reply) = 0;
  // Runtime::record's lifecycle events: failed ("kind: message"), restarting, stopped, exited,
  // hibernated, resumed, undeliverable ... ("log" is not recorded).
  virtual void lifecycle(std::string_view type, std::string_view detail) = 0;

  // Host calls that bring outside data in or reach outside the actor. Live: the outcome is
  // recorded. Replaying: replay_host returns the recorded outcome instead of making the call, or
  // nullopt when the actor asked for something other than what was recorded (a divergence).
  virtual void host(HostCall call, std::string_view key, std::string_view input,
                    const HostOutcome& outcome) = 0;
  virtual std::optional<HostOutcome> replay_host(HostCall call, std::string_view key,
                                                 std::string_view input) {
    return std::nullopt;
  }
};

}  // namespace theater::state
