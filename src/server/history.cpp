#include "server/history.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "base/files.hpp"
#include "base/sha256.hpp"
#include "server/http_util.hpp"
#include "state/store.hpp"

namespace theater::server {

namespace {

std::shared_ptr<Actor> live_actor(Runtime& runtime, const std::string& id) {
  auto actor = runtime.find(id);
  if (!actor || !actor->module) {
    throw ApiError(404, "ENOTFOUND", fmt::format("no actor '{}' (list the live ones with GET /v1/actors)", id));
  }
  return actor;
}

nlohmann::json event_json(const Event& e) {
  return {{"seq", e.seq}, {"time_ms", e.time_ms}, {"actor", e.actor},
          {"name", e.name}, {"type", e.type},     {"detail", e.detail}};
}

}  // namespace

nlohmann::json actor_events(Runtime& runtime, const std::string& id, const EventQuery& query) {
  // An actor of another node: that node's memory (asked through the cluster).
  auto local = runtime.find(id);
  std::optional<std::vector<Event>> remote;
  if (!(local && local->module) && runtime.remote()) remote = runtime.remote()->events_of(id);
  std::vector<Event> history = remote ? std::move(*remote) : live_actor(runtime, id)->event_history();
  std::vector<Event> picked;
  for (auto& e : history) {
    if (e.seq > query.since && (query.type.empty() || e.type == query.type)) picked.push_back(std::move(e));
  }
  if (picked.size() > query.limit) picked.erase(picked.begin(), picked.end() - static_cast<ptrdiff_t>(query.limit));
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : picked) events.push_back(event_json(e));
  return {{"actor", id}, {"source", remote ? "node" : "memory"}, {"events", std::move(events)}};
}

nlohmann::json verify_actor(Runtime& runtime, const std::string& id) {
  live_actor(runtime, id);
  state::Store* store = runtime.store();
  if (!store) {
    throw ApiError(501, "not_implemented",
                   "this runtime keeps no event chain (it runs without a data directory)");
  }
  runtime.wait_durable();  // verify what has been recorded so far, not an older prefix
  const auto broken = store->verify(id);
  nlohmann::json out{{"actor", id}, {"ok", !broken}};
  if (broken) {
    out["broken_at"] = broken->seq;
    out["detail"] = fmt::format("first broken link at event {}: {}", broken->seq, broken->reason);
  } else {
    const auto events = store->events(id);
    out["checked"] = events.size();
    out["head"] = events.empty() ? std::string() : state::hex(events.back().hash);
    out["detail"] = fmt::format("{} events, every hash and link checks out", events.size());
  }
  return out;
}

nlohmann::json upgrade_actor(Runtime& runtime, const std::string& id, const UpgradeRequest& request) {
  live_actor(runtime, id);
  std::filesystem::path path;
  if (request.component_path) {
    path = *request.component_path;
  } else if (request.wasm) {
    // Bytes from the client: kept by content under the data dir (a recovered actor may need them).
    if (runtime.config().data_dir.empty()) {
      throw ApiError(501, "not_implemented", "uploading a module needs a data directory; give component_path");
    }
    const auto dir = runtime.config().data_dir / "uploads";
    std::filesystem::create_directories(dir);
    path = dir / (sha256_hex(*request.wasm) + ".wasm");
    write_file_atomic(path, *request.wasm);
  } else {
    throw ApiError(400, "bad_request", "give component_path (a .wasm or manifest on the server) or wasm (its bytes)");
  }
  const auto result = runtime.upgrade(id, path);
  if (!result.ok) throw ApiError(409, "upgrade_failed", result.message);
  return {{"actor", id}, {"upgraded", true}, {"detail", result.message}};
}

}  // namespace theater::server
