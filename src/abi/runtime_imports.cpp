// Always granted: state, identity, logging, exit and fail; plus the fuel check that instrument()
// plants in every module (deadlines and preemption).
#include <fmt/format.h>

#include "abi/host.hpp"
#include "abi/imports.hpp"
#include "actor/runtime.hpp"

namespace theater::abi {
namespace {

uint64_t state_set(engine::Instance& inst, const uint64_t* a) {
  auto bytes = read_guest(inst, a[0], a[1]);
  if (!bytes) return static_cast<uint32_t>(kEINVAL);
  auto& actor = actor_of(inst);
  if (bytes->size() > actor.manifest().limits.max_state_bytes) return static_cast<uint32_t>(kETOOBIG);
  actor.scratch().staged_state = std::move(*bytes);
  return kOk;
}

uint64_t state_get(engine::Instance& inst, const uint64_t* a) {
  auto& actor = actor_of(inst);
  // What the actor sees is what it staged in this handler, else the last committed state.
  const Bytes state = actor.scratch().staged_state ? *actor.scratch().staged_state : actor.committed_state();
  return static_cast<uint32_t>(return_bytes(inst, state, a[0], a[1]));
}

uint64_t self_id(engine::Instance& inst, const uint64_t* a) {
  return static_cast<uint32_t>(return_bytes(inst, actor_of(inst).id, a[0], a[1]));
}

uint64_t log(engine::Instance& inst, const uint64_t* a) {
  auto text = read_guest(inst, a[1], a[2]);
  if (!text || a[0] > 4) return static_cast<uint32_t>(kEINVAL);
  static constexpr const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  auto& actor = actor_of(inst);
  actor.runtime().record(actor, "log", fmt::format("[{}] {}", kLevels[a[0]], *text));
  return kOk;
}

uint64_t exit(engine::Instance& inst, const uint64_t* a) {
  auto bytes = read_guest(inst, a[0], a[1]);
  if (!bytes) return static_cast<uint32_t>(kEINVAL);
  actor_of(inst).scratch().exit_result = std::move(*bytes);
  return kOk;
}

uint64_t fail(engine::Instance& inst, const uint64_t* a) {
  auto bytes = read_guest(inst, a[0], a[1]);
  if (!bytes) return static_cast<uint32_t>(kEINVAL);
  actor_of(inst).scratch().fail_message = std::move(*bytes);
  return kOk;
}

uint64_t fuel_exhausted(engine::Instance& inst, const uint64_t*) {
  return static_cast<uint32_t>(actor_of(inst).on_fuel_exhausted(inst));
}

}  // namespace

std::vector<HostImportSpec> runtime_imports() {
  return {
      {"theater", "state_set", "runtime", sig("ii", "i"), state_set},
      {"theater", "state_get", "runtime", sig("ii", "i"), state_get},
      {"theater", "self_id", "runtime", sig("ii", "i"), self_id},
      {"theater", "log", "runtime", sig("iii", "i"), log},
      {"theater", "exit", "runtime", sig("ii", "i"), exit},
      {"theater", "fail", "runtime", sig("ii", "i"), fail},
      {"theater", "__fuel_exhausted", "runtime", sig("i", "i"), fuel_exhausted},
  };
}

}  // namespace theater::abi
