#include "server/history.hpp"

#include <fmt/format.h>

#include "server/http_util.hpp"

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
  auto actor = live_actor(runtime, id);
  std::vector<Event> picked;
  for (auto& e : actor->events().snapshot()) {
    if (e.seq > query.since && (query.type.empty() || e.type == query.type)) picked.push_back(std::move(e));
  }
  if (picked.size() > query.limit) picked.erase(picked.begin(), picked.end() - static_cast<ptrdiff_t>(query.limit));
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : picked) events.push_back(event_json(e));
  return {{"actor", id}, {"source", "memory"}, {"events", std::move(events)}};
}

nlohmann::json verify_actor(Runtime& runtime, const std::string& id) {
  live_actor(runtime, id);
  throw ApiError(501, "not_implemented",
                 "verify needs the per-actor hash chain (the durable store, issue 5), which this server "
                 "was built without; `theater events` shows the in-memory history meanwhile");
}

nlohmann::json upgrade_actor(Runtime& runtime, const std::string& id, const UpgradeRequest& request) {
  live_actor(runtime, id);
  throw ApiError(501, "not_implemented",
                 "upgrade needs Runtime::upgrade (issue 5), which this server was built without");
}

}  // namespace theater::server
