#include "state/manifest_json.hpp"

#include <nlohmann/json.hpp>

namespace theater::state {

namespace {

using nlohmann::json;

// Reads an enum written with to_string, trying each value.
template <typename E, size_t N>
E enum_from(const json& j, const char* key, const E (&values)[N]) {
  const auto name = j.at(key).get<std::string>();
  for (E v : values) {
    if (name == to_string(v)) return v;
  }
  throw ManifestError("stored manifest: bad " + std::string(key) + " '" + name + "'");
}

constexpr RestartType kRestarts[] = {RestartType::Permanent, RestartType::Transient, RestartType::Temporary};
constexpr Strategy kStrategies[] = {Strategy::OneForOne, Strategy::OneForAll, Strategy::RestForOne};
constexpr OnFailure kOnFailures[] = {OnFailure::Restart, OnFailure::Stop, OnFailure::Escalate, OnFailure::Custom};

}  // namespace

std::string manifest_to_json(const Manifest& m) {
  json children = json::array();
  for (const auto& c : m.children) {
    json cj{{"manifest", c.manifest.string()}};
    if (c.init_state) cj["init_state"] = c.init_state->string();
    children.push_back(cj);
  }
  json env = json::array();
  for (const auto& [k, v] : m.environment) env.push_back({k, v});
  json limits{{"memory_mb", m.limits.memory_mb},
              {"handler_timeout_ms", m.limits.handler_timeout_ms},
              {"mailbox", m.limits.mailbox},
              {"max_message_bytes", m.limits.max_message_bytes},
              {"max_state_bytes", m.limits.max_state_bytes}};
  if (m.limits.hibernate_after_ms) limits["hibernate_after_ms"] = *m.limits.hibernate_after_ms;
  json j{{"name", m.name},
         {"component", m.component},
         {"component_path", m.component_path.string()},
         {"version", m.version},
         {"handlers", m.handlers},
         {"restart", to_string(m.restart)},
         {"limits", limits},
         {"supervision",
          {{"strategy", to_string(m.supervision.strategy)},
           {"on_failure", to_string(m.supervision.on_failure)},
           {"max_restarts", m.supervision.max_restarts},
           {"within_ms", m.supervision.within_ms}}},
         {"children", children},
         {"environment", env},
         {"store_payloads", m.store_payloads},
         {"base_dir", m.base_dir.string()},
         {"source", m.source}};
  if (m.init_state) j["init_state"] = m.init_state->string();
  return j.dump();
}

Manifest manifest_from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    Manifest m;
    m.name = j.at("name").get<std::string>();
    m.component = j.at("component").get<std::string>();
    m.component_path = j.at("component_path").get<std::string>();
    m.version = j.at("version").get<std::string>();
    m.handlers = j.at("handlers").get<std::vector<std::string>>();
    if (j.contains("init_state")) m.init_state = j["init_state"].get<std::string>();
    m.restart = enum_from(j, "restart", kRestarts);
    const json& l = j.at("limits");
    m.limits.memory_mb = l.at("memory_mb");
    m.limits.handler_timeout_ms = l.at("handler_timeout_ms");
    m.limits.mailbox = l.at("mailbox");
    m.limits.max_message_bytes = l.at("max_message_bytes");
    m.limits.max_state_bytes = l.at("max_state_bytes");
    if (l.contains("hibernate_after_ms")) m.limits.hibernate_after_ms = l["hibernate_after_ms"].get<uint32_t>();
    const json& s = j.at("supervision");
    m.supervision.strategy = enum_from(s, "strategy", kStrategies);
    m.supervision.on_failure = enum_from(s, "on_failure", kOnFailures);
    m.supervision.max_restarts = s.at("max_restarts");
    m.supervision.within_ms = s.at("within_ms");
    for (const auto& c : j.at("children")) {
      ChildSpec spec{c.at("manifest").get<std::string>(), std::nullopt};
      if (c.contains("init_state")) spec.init_state = c["init_state"].get<std::string>();
      m.children.push_back(std::move(spec));
    }
    for (const auto& e : j.at("environment")) m.environment.emplace_back(e.at(0), e.at(1));
    m.store_payloads = j.at("store_payloads");
    m.base_dir = j.at("base_dir").get<std::string>();
    m.source = j.at("source").get<std::string>();
    return m;
  } catch (const json::exception& e) {
    throw ManifestError(std::string("stored manifest: ") + e.what());
  }
}

}  // namespace theater::state
