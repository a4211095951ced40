#pragma once
// The recording point of a host call that brings outside data in (time, random bytes, blobs,
// replies, ids) or reaches outside the actor (send, spawn ...): see src/state/io.hpp.
//
//   auto out = host_io(inst, HostCall::NowMs, key, input, [&] { return HostOutcome{wall_ms()}; });
//
// Without a recorder, `live` runs and that is all (one branch). Recording, `live` runs and its
// outcome goes into the actor's event chain. Replaying, `live` does not run: the recorded outcome
// comes back instead; if the actor asked for something else than what was recorded, the call
// traps ("replay diverged") and the replay reports the divergence.
#include <utility>

#include "abi/host.hpp"
#include "state/io.hpp"

namespace theater::abi {

using state::HostCall;
using state::HostOutcome;

template <typename Live>
HostOutcome host_io(engine::Instance& inst, HostCall call, std::string_view key, std::string_view input,
                    Live&& live) {
  state::ActorIo* io = actor_of(inst).io();
  if (!io) return live();
  if (io->replaying()) {
    if (auto recorded = io->replay_host(call, key, input)) return std::move(*recorded);
    inst.raise({engine::TrapKind::Host, "replay diverged (see the replay report)"});
    return {kEINVAL, {}};
  }
  HostOutcome out = live();
  io->host(call, key, input, out);
  return out;
}

// The common shape: an rc and maybe bytes that go back through the out-slots (return_bytes).
inline uint64_t rc_or_bytes(engine::Instance& inst, const HostOutcome& out, uint64_t out_ptr, uint64_t out_len) {
  if (out.rc < 0) return static_cast<uint32_t>(out.rc);
  return static_cast<uint32_t>(return_bytes(inst, out.bytes, out_ptr, out_len));
}

}  // namespace theater::abi
