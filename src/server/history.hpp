#pragma once
// The one place where the server reads an actor's history and changes its code: events (the
// runtime's lifecycle events in memory, the last 1000 per actor), verify (the actor's hash chain
// in the durable store, docs/state.md) and upgrade (Runtime::upgrade, rolled back on a failed
// init). Each throws ApiError (404 for an unknown actor, 409 for an upgrade rolled back, 501
// without a data directory).
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "actor/runtime.hpp"

namespace theater::server {

struct EventQuery {
  uint64_t since = 0;     // only events with seq > since
  size_t limit = 1000;    // the newest `limit` of them
  std::string type;       // "" = every type
};

// {"actor": id, "source": "memory", "events": [{seq, time_ms, actor, name, type, detail}...]}
nlohmann::json actor_events(Runtime& runtime, const std::string& id, const EventQuery& query);

// {"actor": id, "ok": bool, "checked": N, "detail": "..."}: the actor's history is intact.
nlohmann::json verify_actor(Runtime& runtime, const std::string& id);

struct UpgradeRequest {
  std::optional<std::string> component_path;  // a .wasm file on the server's machine
  std::optional<std::string> wasm;            // or the module's bytes
};
// {"actor": id, "upgraded": true, ...}: same id, same committed state, new code (init reason 2).
nlohmann::json upgrade_actor(Runtime& runtime, const std::string& id, const UpgradeRequest& request);

}  // namespace theater::server
