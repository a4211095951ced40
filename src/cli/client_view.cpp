#include "cli/client_view.hpp"

#include <fmt/format.h>

#include "base/text_codec.hpp"
#include "cli/client.hpp"
#include "cli/event_view.hpp"
#include "cli/tree_view.hpp"

namespace theater::cli {

namespace {

using Json = nlohmann::json;

std::string uptime_of(const Json& a) {
  return a.contains("uptime_ms") && a["uptime_ms"].is_number() ? human_duration_ms(a["uptime_ms"].get<int64_t>()) : "-";
}

void collect(const Json& node, std::map<std::string, TreeRow>& rows, int depth) {
  TreeRow row;
  row.id = node.value("id", "");
  row.name = node.value("name", row.id);
  row.status = node.value("status", "?");
  row.restarts = node.value("restarts", 0u);
  row.mailbox = node.value("mailbox", size_t{0});
  row.state_bytes = node.value("state_bytes", size_t{0});
  if (node.contains("children") && node["children"].is_array() && depth < 64) {
    for (const auto& kid : node["children"]) {
      row.children.push_back(kid.value("id", ""));
      collect(kid, rows, depth + 1);
    }
  }
  rows[row.id] = std::move(row);
}

}  // namespace

std::string render_actor_table(const Json& actors) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : actors) {
    rows.push_back({a.value("id", ""), a.value("name", ""), a.value("status", ""),
                    std::to_string(a.value("restarts", 0)), std::to_string(a.value("mailbox", 0)),
                    human_bytes(a.value("state_bytes", uint64_t{0})), uptime_of(a), a.value("parent", ""),
                    a.value("node", "")});
  }
  if (rows.empty()) return "no actors (start one with `theater start <manifest>`)\n";
  return render_table({"ID", "NAME", "STATUS", "RESTARTS", "MAILBOX", "STATE", "UPTIME", "PARENT", "NODE"}, rows);
}

std::string render_tree_json(const Json& root, bool color) {
  std::map<std::string, TreeRow> rows;
  collect(root, rows, 0);
  const auto& top = rows[root.value("id", "runtime")].children;
  return render_tree(rows, top, color);
}

std::string render_inspect(const Json& a, bool color) {
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<12} {}\n", key, value); };
  line("id", a.value("id", ""));
  line("name", a.value("name", ""));
  line("status", a.value("status", ""));
  line("parent", a.value("parent", ""));
  line("node", a.value("node", ""));
  line("uptime", uptime_of(a));
  line("restarts", std::to_string(a.value("restarts", 0)));
  line("mailbox", fmt::format("{} / {}", a.value("mailbox", 0), a.value("mailbox_limit", 0)));
  std::string preview = a.value("state_preview", "");
  if (a.value("state_preview_encoding", "utf8") == "base64") {
    preview = "base64:" + preview;
  } else {
    Json quoted = preview;
    preview = quoted.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  if (a.value("state_preview_truncated", false)) preview += " ...";
  line("state", fmt::format("{}  {}", human_bytes(a.value("state_bytes", uint64_t{0})), preview));
  if (a.contains("children") && !a["children"].empty()) {
    std::string kids;
    for (const auto& k : a["children"]) kids += (kids.empty() ? "" : ", ") + k.get<std::string>();
    line("children", kids);
  }
  if (a.contains("manifest")) {
    const Json& m = a["manifest"];
    out += "manifest\n";
    auto mline = [&](std::string_view key, const std::string& value) { out += fmt::format("  {:<18} {}\n", key, value); };
    mline("source", m.value("source", ""));
    mline("component", m.value("component", ""));
    if (!m.value("version", "").empty()) mline("version", m.value("version", ""));
    std::string handlers;
    for (const auto& h : m.value("handlers", Json::array())) handlers += (handlers.empty() ? "" : ", ") + h.get<std::string>();
    mline("handlers", handlers.empty() ? "(none)" : handlers);
    mline("restart", m.value("restart", ""));
    if (m.contains("limits")) {
      for (const auto& [k, v] : m["limits"].items()) mline(k, v.dump());
    }
    if (m.contains("supervision")) {
      const Json& s = m["supervision"];
      mline("supervision", fmt::format("{}, on failure {}, at most {} restarts in {} ms", s.value("strategy", ""),
                                       s.value("on_failure", ""), s.value("max_restarts", 0), s.value("within_ms", 0)));
    }
  }
  if (a.contains("recent_events") && !a["recent_events"].empty()) {
    out += "recent events\n";
    for (const auto& e : a["recent_events"]) out += "  " + format_event(event_from_json(e), color) + "\n";
  }
  return out;
}

Event event_from_json(const Json& j) {
  Event e;
  e.seq = j.value("seq", uint64_t{0});
  e.time_ms = j.value("time_ms", int64_t{0});
  e.actor = j.value("actor", "");
  e.name = j.value("name", "");
  e.type = j.value("type", "");
  e.detail = j.value("detail", "");
  return e;
}

}  // namespace theater::cli
