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

// A spawn that did not happen: recorded with why, and `rc` for the caller.
HostOutcome spawn_refused(Actor& self, int32_t rc, const std::string& why) {
  self.runtime().record(self, "spawn-refused", why);
  return HostOutcome{rc, {}};
}

// Spawned manifest text, parsed: its relative paths resolve against the spawner's manifest folder.
const Manifest* spawned_manifest(Actor& self, const std::string& text, std::string& why) {
  try {
    return self.runtime().manifests().parse(text, self.manifest().base_dir);
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

// The child here, under `self`: its id, or the refusal.
HostOutcome spawn_here(Actor& self, const Manifest& manifest, std::optional<Bytes> init_state) {
  try {
    return HostOutcome{kOk, self.runtime().spawn_from(self, manifest, std::move(init_state))};
  } catch (const std::exception& e) {
    return spawn_refused(self, kEINVAL, e.what());
  }
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
    std::string why;
    const Manifest* manifest = spawned_manifest(self, *text, why);
    if (!manifest) return spawn_refused(self, kEINVAL, why);
    std::optional<Bytes> init_state;
    if (a[3] > 0) init_state = *init;
    return spawn_here(self, *manifest, std::move(init_state));
  });
  return rc_or_bytes(inst, out, a[4], a[5]);
}

// spawn with a placement (docs/abi-additions.md): `where` is "node:NAME", "near-parent",
// "least-loaded" or "spread". On this node it is `spawn`; on another node the caller waits in its
// fiber while that node starts the child, which the caller then supervises through a proxy.
uint64_t spawn_on(engine::Instance& inst, const uint64_t* a) {
  auto text = read_guest(inst, a[0], a[1]);
  auto init = read_guest(inst, a[2], a[3]);
  auto where = read_guest(inst, a[4], a[5]);
  if (!text || !init || !where || !inst.in_bounds(static_cast<uint32_t>(a[6]), 4) ||
      !inst.in_bounds(static_cast<uint32_t>(a[7]), 4)) {
    return static_cast<uint32_t>(kEINVAL);
  }
  auto& self = actor_of(inst);
  auto& runtime = self.runtime();
  auto refused = [&](int32_t rc, const std::string& why) { return spawn_refused(self, rc, why); };
  auto out = host_io(inst, HostCall::SpawnOn, *where, *text, [&] {
    std::string why;
    const Manifest* manifest = spawned_manifest(self, *text, why);
    if (!manifest) return refused(kEINVAL, why);
    std::optional<Bytes> init_state;
    if (a[3] > 0) init_state = *init;
    const auto placement = parse_placement(*where);
    if (!placement) {
      return refused(kEINVAL, fmt::format("'{}' is neither node:NAME nor a placement ({})", *where, kPlacementPolicies));
    }
    std::string node = runtime.node_name();
    if (auto* remote = runtime.remote()) {
      auto picked = remote->pick_node(*placement, why);
      if (!picked) return refused(kENOTFOUND, why);
      node = *picked;
    } else if (placement->named && placement->node != node) {
      return refused(kENOTFOUND, fmt::format("no node '{}': this runtime is not in a cluster", placement->node));
    }
    if (node == runtime.node_name()) return spawn_here(self, *manifest, std::move(init_state));
    struct Answer {
      int32_t rc = kETIMEOUT;
      std::string result;
    };
    auto answer = std::make_shared<Answer>();
    const bool answered = self.await([&](std::function<void()> wake) {
      runtime.remote()->spawn_remote(node, *manifest, *text, std::move(init_state), self.id,
                                     [answer, wake](int32_t rc, std::string result) {
                                       answer->rc = rc;
                                       answer->result = std::move(result);
                                       wake();
                                     });
    });
    if (!answered) {
      inst.raise({engine::TrapKind::Host, "the actor was stopped while its child started on another node"});
      return HostOutcome{kESTOPPED, {}};
    }
    if (answer->rc != kOk) return refused(answer->rc, fmt::format("on node {}: {}", node, answer->result));
    return HostOutcome{kOk, answer->result};
  });
  return rc_or_bytes(inst, out, a[6], a[7]);
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
      {"theater", "spawn_on", "supervisor", sig("iiiiiiii", "i"), spawn_on},
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
