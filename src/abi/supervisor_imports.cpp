// Handler "supervisor": spawn children, stop or restart them, look at them, and monitor any actor.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/host_io.hpp"
#include "abi/imports.hpp"
#include "actor/runtime.hpp"

namespace theater::abi {
namespace {

// The child `id` of the calling actor, or null.
std::shared_ptr<Actor> child_of(Actor& self, const std::string& id) {
  auto kids = self.children();
  if (std::find(kids.begin(), kids.end(), id) == kids.end()) return nullptr;
  return self.runtime().find(id);
}

uint64_t spawn(engine::Instance& inst, const uint64_t* a) {
  auto text = read_guest(inst, a[0], a[1]);
  auto init = read_guest(inst, a[2], a[3]);
  if (!text || !init || !inst.in_bounds(static_cast<uint32_t>(a[4]), 4) ||
      !inst.in_bounds(static_cast<uint32_t>(a[5]), 4)) {
    return static_cast<uint32_t>(kEINVAL);
  }
  auto& self = actor_of(inst);
  auto out = host_io(inst, HostCall::Spawn, *init, *text, [&] {
    try {
      // Relative paths in spawned manifest text resolve against the spawner's manifest folder.
      const Manifest* manifest = self.runtime().manifests().parse(*text, self.manifest().base_dir);
      std::optional<Bytes> init_state;
      if (a[3] > 0) init_state = *init;
      return HostOutcome{kOk, self.runtime().spawn_from(self, *manifest, std::move(init_state))};
    } catch (const std::exception& e) {
      self.runtime().record(self, "spawn-refused", e.what());
      return HostOutcome{kEINVAL, {}};
    }
  });
  return rc_or_bytes(inst, out, a[4], a[5]);
}

uint64_t stop_child(engine::Instance& inst, const uint64_t* a) {
  auto id = read_guest(inst, a[0], a[1]);
  if (!id) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  return static_cast<uint32_t>(host_io(inst, HostCall::StopChild, *id, {}, [&] {
    if (!child_of(self, *id)) return HostOutcome{kENOTFOUND, {}};
    self.runtime().stop_from(self, *id);
    return HostOutcome{kOk, {}};
  }).rc);
}

uint64_t restart_child(engine::Instance& inst, const uint64_t* a) {
  auto id = read_guest(inst, a[0], a[1]);
  if (!id) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  return static_cast<uint32_t>(host_io(inst, HostCall::RestartChild, *id, {}, [&] {
    auto child = child_of(self, *id);
    if (!child) return HostOutcome{kENOTFOUND, {}};
    if (child->status() == ActorStatus::Stopped) return HostOutcome{kESTOPPED, {}};
    self.runtime().restart_from(self, *id);
    return HostOutcome{kOk, {}};
  }).rc);
}

uint64_t list_children(engine::Instance& inst, const uint64_t* a) {
  auto out = host_io(inst, HostCall::ListChildren, {}, {},
                     [&] { return HostOutcome{kOk, nlohmann::json(actor_of(inst).children()).dump()}; });
  return rc_or_bytes(inst, out, a[0], a[1]);
}

uint64_t child_state(engine::Instance& inst, const uint64_t* a) {
  auto id = read_guest(inst, a[0], a[1]);
  if (!id) return static_cast<uint32_t>(kEINVAL);
  auto out = host_io(inst, HostCall::ChildState, *id, {}, [&] {
    auto child = child_of(actor_of(inst), *id);
    return child ? HostOutcome{kOk, child->committed_state()} : HostOutcome{kENOTFOUND, {}};
  });
  return rc_or_bytes(inst, out, a[2], a[3]);
}

uint64_t child_events(engine::Instance& inst, const uint64_t* a) {
  auto id = read_guest(inst, a[0], a[1]);
  if (!id) return static_cast<uint32_t>(kEINVAL);
  auto out = host_io(inst, HostCall::ChildEvents, *id, {}, [&] {
    auto child = child_of(actor_of(inst), *id);
    if (!child) return HostOutcome{kENOTFOUND, {}};
    auto events = nlohmann::json::array();
    for (const auto& e : child->event_history()) events.push_back(nlohmann::json::parse(e.json()));
    return HostOutcome{kOk, events.dump()};
  });
  return rc_or_bytes(inst, out, a[2], a[3]);
}

uint64_t monitor(engine::Instance& inst, const uint64_t* a) {
  auto id = read_guest(inst, a[0], a[1]);
  if (!id) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  return static_cast<uint32_t>(
      host_io(inst, HostCall::Monitor, *id, {}, [&] { return HostOutcome{self.runtime().monitor(self.id, *id), {}}; }).rc);
}

uint64_t demonitor(engine::Instance& inst, const uint64_t* a) {
  auto id = read_guest(inst, a[0], a[1]);
  if (!id) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  return static_cast<uint32_t>(
      host_io(inst, HostCall::Demonitor, *id, {}, [&] { return HostOutcome{self.runtime().demonitor(self.id, *id), {}}; }).rc);
}

}  // namespace

std::vector<HostImportSpec> supervisor_imports() {
  return {
      {"theater", "spawn", "supervisor", sig("iiiiii", "i"), spawn},
      {"theater", "stop_child", "supervisor", sig("ii", "i"), stop_child},
      {"theater", "restart_child", "supervisor", sig("ii", "i"), restart_child},
      {"theater", "list_children", "supervisor", sig("ii", "i"), list_children},
      {"theater", "child_state", "supervisor", sig("iiii", "i"), child_state},
      {"theater", "child_events", "supervisor", sig("iiii", "i"), child_events},
      {"theater", "monitor", "supervisor", sig("ii", "i"), monitor},
      {"theater", "demonitor", "supervisor", sig("ii", "i"), demonitor},
  };
}

}  // namespace theater::abi
