#pragma once
// Shared plumbing for host functions: the actor behind an instance, reading the actor's memory,
// and handing variable-size results back through theater_alloc (actor-abi.md).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "abi/abi.hpp"
#include "actor/actor.hpp"
#include "engine/engine.hpp"

namespace theater::abi {

inline Actor& actor_of(engine::Instance& instance) { return *static_cast<Actor*>(instance.user); }

// The bytes at [ptr, ptr+len) of the actor's memory, or nullopt if outside it.
inline std::optional<std::string> read_guest(engine::Instance& instance, uint64_t ptr, uint64_t len) {
  return instance.read_bytes(static_cast<uint32_t>(ptr), static_cast<uint32_t>(len));
}

// The bytes at [ptr, ptr+len) without copying them, or nullopt if outside memory. Valid only
// until the actor's code runs again (its memory may grow and move).
inline std::optional<std::string_view> view_guest(engine::Instance& instance, uint64_t ptr, uint64_t len) {
  auto at = instance.bytes_at(static_cast<uint32_t>(ptr), static_cast<uint32_t>(len));
  if (!at) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(at->data()), at->size());
}

// Copies `bytes` into a buffer from the actor's theater_alloc and writes its pointer and length
// to the out-slots. EINVAL if the out-slots are outside memory. If theater_alloc traps or
// returns 0 the current handler fails (the trap is raised on the instance).
int32_t return_bytes(engine::Instance& instance, std::string_view bytes, uint64_t out_ptr,
                     uint64_t out_len);

}  // namespace theater::abi
