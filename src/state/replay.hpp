#pragma once
// Replay: a fresh instance of the recorded module is fed an actor's recorded inputs, and every
// result it produces is checked against the recording (docs/state.md, "Replay").
//
// The model: an actor is deterministic given its inputs. Inputs are what the chain records as
// driving events — init (a fresh instance, its reason and state), messages received, export calls
// (shutdown, child_error, child_exit, down), upgrades and rollbacks — and the outcomes of host
// calls, which the replay hands back instead of making the calls (no message leaves a replay, no
// child is spawned, time and random bytes are the recorded ones). Checked, in order: every host
// call the actor makes (which call, its key and input hash), every state commit (hash), every
// reply (hash), every failure (kind). The first difference is the divergence, named by the seq
// of the event where it shows.
//
// Not replayable: events whose payload was not stored in full (a message or host result over the
// payload limit, or an actor with [chain] store_payloads = false); the report says which.
// A handler that failed live with kind "timeout" is skipped (how long a handler runs is not an
// input); one cut short by a crash of the runtime (the recording goes on with "recovered") is run
// but not checked past the cut.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/engine.hpp"
#include "state/io.hpp"

namespace theater {
class BlobStore;
}

namespace theater::state {

class Store;

struct ReplayOptions {
  engine::Tier tier = engine::Tier::Aot;
  // For tests: may change a recorded host outcome before the actor sees it, as an input the
  // chain did not capture would (plants non-determinism).
  std::function<void(HostCall call, HostOutcome& outcome)> perturb;
};

struct ReplayReport {
  std::string actor;
  bool ok = false;              // replayed to the end and everything matched
  uint64_t events = 0;          // in the recording
  uint64_t commits_checked = 0;
  uint64_t replies_checked = 0;
  uint64_t host_calls_fed = 0;
  uint64_t handlers_skipped = 0;  // timed out live
  std::optional<uint64_t> diverged_at;  // seq of the first divergence
  std::string message;  // the divergence, or why the replay could not run; "" when ok
};

// Replays one actor of the store. Never throws for a bad recording: the report says what is wrong.
ReplayReport replay(const Store& store, const BlobStore& blobs, const std::string& actor,
                    const ReplayOptions& options = {});

}  // namespace theater::state
