// The management API (docs/server.md): actors (list, start, inspect, stop, restart, send,
// request), their history (events, logs, verify, upgrade: history.cpp), the tree, server info.
#include <httplib.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "abi/abi.hpp"
#include "cluster/cluster.hpp"
#include "server/history.hpp"
#include "server/http_util.hpp"
#include "server/server.hpp"

namespace theater::server {

namespace {

using Json = nlohmann::json;
using Req = httplib::Request;
using Res = httplib::Response;

constexpr size_t kStatePreviewBytes = 256;
constexpr int64_t kMaxRequestTimeoutMs = 600000;

// Runs a handler: its JSON becomes the body; an ApiError (or any exception) a JSON error.
template <typename F>
httplib::Server::Handler json_route(F f) {
  return [f](const Req& req, Res& res) {
    try {
      Json out = f(req, res);
      res.set_content(json_text(out), "application/json");
    } catch (const ApiError& e) {
      res.status = e.status;
      res.set_content(json_text(error_json(e.code, e.what())), "application/json");
    } catch (const ManifestError& e) {
      res.status = 400;
      res.set_content(json_text(error_json("bad_manifest", e.what())), "application/json");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(json_text(error_json("internal", e.what())), "application/json");
    }
  };
}

void check_rc(int32_t rc, const std::string& id) {
  if (rc == abi::kOk) return;
  throw ApiError(status_for_rc(rc), abi::rc_name(rc), fmt::format("{}: {}", id, explain_rc(rc)));
}

// An actor of this runtime as GET /v1/actors shows it. "node" is where it runs: this server's
// node, or for a proxy (a child that another node runs for a parent here) that node.
Json summary_json(const ActorSummary& s, Server& server) {
  Json j{{"id", s.id},           {"name", s.name},       {"parent", s.parent.empty() ? "runtime" : s.parent},
         {"status", to_string(s.status)}, {"restarts", s.restarts}, {"mailbox", s.mailbox},
         {"state_bytes", s.state_bytes}, {"node", s.node.empty() ? server.node() : s.node}};
  if (auto t = server.hub().times(s.id); t && t->started_ms) {
    j["uptime_ms"] = std::max<int64_t>(0, wall_ms() - t->started_ms);
  }
  return j;
}

ActorSummary summary_of(const Actor& a, size_t state_bytes) {
  return {a.id, a.manifest().name, a.parent, a.status(), a.restarts(), a.mailbox_depth(), state_bytes,
          a.is_proxy() ? a.home : ""};
}

// An actor that another node of the cluster runs, as this node's directory mirror knows it: no
// status, mailbox or state from here (that node's server has them).
Json remote_json(const cluster::DirectoryEntry& e) {
  return {{"id", e.id},     {"name", e.name}, {"parent", e.parent.empty() ? "runtime" : e.parent},
          {"status", "remote"}, {"node", e.node}, {"remote", true}};
}

// The cluster's directory entry of an actor that this node does not run, if there is one.
std::optional<cluster::DirectoryEntry> remote_entry(Server& server, const std::string& id) {
  auto* c = server.cluster();
  if (!c) return std::nullopt;
  auto e = c->lookup(id);
  if (!e || e->node == c->config().node_name) return std::nullopt;
  return e;
}

// The directory entry of an actor that only another node knows (no instance, no proxy here).
std::optional<cluster::DirectoryEntry> remote_only(Server& server, const std::string& id) {
  if (server.runtime().find(id)) return std::nullopt;
  return remote_entry(server, id);
}

// An actor this node runs; 409 if another node of the cluster runs it, else 404.
std::shared_ptr<Actor> live_actor(Server& server, const std::string& id) {
  auto actor = server.runtime().find(id);
  if (actor && actor->module) return actor;
  if (auto e = remote_entry(server, id)) {
    throw ApiError(409, "remote_actor", fmt::format("actor '{}' runs on node '{}': ask that node's server", id, e->node));
  }
  throw ApiError(404, "ENOTFOUND", fmt::format("no actor '{}' (GET /v1/actors lists the live ones)", id));
}

// Messages may go to an actor on any node: the runtime routes them through the cluster.
void check_reachable(Server& server, const std::string& id) {
  auto actor = server.runtime().find(id);
  if ((actor && actor->module) || remote_entry(server, id)) return;
  live_actor(server, id);  // says why not
}

std::string live_node_names(const std::vector<cluster::NodeInfo>& nodes) {
  std::vector<std::string> names;
  for (const auto& n : nodes) {
    if (n.alive) names.push_back(n.name);
  }
  std::sort(names.begin(), names.end());
  return fmt::format("{}", fmt::join(names, ", "));
}

// The node that POST /v1/actors starts an actor on: its "node", or the one its "placement"
// policy picks (a top-level actor's parent is the runtime: near-parent is this node), or this one.
std::string pick_node(Server& server, const std::optional<std::string>& node, const std::optional<std::string>& policy) {
  if (node && policy) throw ApiError(400, "bad_request", "give 'node' or 'placement', not both");
  std::optional<Placement> picked;
  if (policy) {
    // A policy only: a node is named in "node", and an empty policy is no choice.
    picked = policy->empty() ? std::nullopt : parse_placement(*policy);
    if (!picked || picked->named) {
      throw ApiError(400, "bad_placement", fmt::format("unknown placement '{}' ({})", *policy, kPlacementPolicies));
    }
  }
  auto* c = server.cluster();
  if (!c) {
    if (node && *node != server.node()) {
      throw ApiError(400, "no_cluster", fmt::format("cannot start an actor on node '{}': this server is not in a cluster "
                                                    "(its actors run here, node '{}'; start it with --cluster URL --node NAME)",
                                                    *node, server.node()));
    }
    return server.node();
  }
  if (node) {
    const auto nodes = c->nodes();
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n.name == *node; });
    if (it == nodes.end() || !it->alive) {
      throw ApiError(400, "bad_node", fmt::format("{} node '{}' in cluster '{}' (live nodes: {})",
                                                  it == nodes.end() ? "no" : "down:", *node, c->config().cluster_name,
                                                  live_node_names(nodes)));
    }
    return *node;
  }
  return picked ? c->place(*picked) : server.node();
}

Json manifest_json(const Manifest& m) {
  Json children = Json::array();
  for (const auto& c : m.children) children.push_back(c.manifest.string());
  return {{"name", m.name},
          {"component", m.component},
          {"version", m.version},
          {"handlers", m.handlers},
          {"restart", to_string(m.restart)},
          {"source", m.source},
          {"limits",
           {{"memory_mb", m.limits.memory_mb},
            {"handler_timeout_ms", m.limits.handler_timeout_ms},
            {"mailbox", m.limits.mailbox},
            {"max_message_bytes", m.limits.max_message_bytes},
            {"max_state_bytes", m.limits.max_state_bytes}}},
          {"supervision",
           {{"strategy", to_string(m.supervision.strategy)},
            {"on_failure", to_string(m.supervision.on_failure)},
            {"max_restarts", m.supervision.max_restarts},
            {"within_ms", m.supervision.within_ms}}},
          {"children", std::move(children)}};
}

Json inspect_json(Server& server, Actor& a) {
  Json j = summary_json(summary_of(a, 0), server);
  const Bytes state = a.committed_state();
  j["state_bytes"] = state.size();
  put_bytes(j, "state_preview", std::string_view(state).substr(0, kStatePreviewBytes));
  j["state_preview_truncated"] = state.size() > kStatePreviewBytes;
  j["mailbox_limit"] = a.manifest().limits.mailbox;
  j["children"] = a.children();
  j["manifest"] = manifest_json(a.manifest());
  if (auto t = server.hub().times(a.id)) {
    j["created_ms"] = t->created_ms;
    j["started_ms"] = t->started_ms;
  }
  j["recent_events"] = actor_events(server.runtime(), a.id, {0, 20, ""})["events"];
  return j;
}

Json tree_node(Server& server, const std::string& id, int depth) {
  auto a = server.runtime().find(id);
  if (!a) return {{"id", id}, {"status", "gone"}, {"children", Json::array()}};
  Json node = summary_json(summary_of(*a, a->module ? a->committed_state().size() : 0), server);
  if (!a->module) node["parent"] = nullptr;
  Json kids = Json::array();
  if (depth < 64) {
    for (const auto& kid : a->children()) kids.push_back(tree_node(server, kid, depth + 1));
  }
  node["children"] = std::move(kids);
  return node;
}

size_t param_size(const Req& req, const char* name, size_t fallback, size_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string v = req.get_param_value(name);
  if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos) {
    throw ApiError(400, "bad_request", fmt::format("query parameter '{}' must be a non-negative integer", name));
  }
  return std::min<size_t>(std::stoull(v), max);
}

}  // namespace

void add_api_routes(httplib::Server& http, Server& server) {
  Runtime& runtime = server.runtime();
  const std::string kId = "([^/]+)";

  http.Get("/v1/server", json_route([&](const Req&, Res&) {
             const auto stats = runtime.engine().stats();
             Json cluster_json;  // null without a cluster
             if (auto* c = server.cluster()) {
               Json nodes = Json::array();
               for (const auto& n : c->nodes()) {
                 nodes.push_back({{"name", n.name}, {"self", n.self}, {"alive", n.alive}, {"actors", n.actors},
                                  {"last_seen_ms", n.last_seen_ms}});
               }
               cluster_json = {{"name", c->config().cluster_name}, {"nodes", std::move(nodes)}};
             }
             return Json{{"version", THEATER_VERSION},
                         {"address", server.address()},
                         {"node", server.node()},
                         {"cluster", std::move(cluster_json)},
                         {"data_dir", server.config().data_dir.string()},
                         {"engine", engine::to_string(runtime.config().engine.tier)},
                         {"workers", runtime.scheduler().workers()},
                         {"actors", runtime.list().size()},
                         {"uptime_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - server.started_at())
                                           .count()},
                         {"compiles", stats.compiles},
                         {"cache_hits", stats.cache_hits},
                         {"tree_stopped", runtime.tree_stopped_reason() ? Json(*runtime.tree_stopped_reason()) : Json()}};
           }));

  http.Get("/v1/actors", json_route([&](const Req&, Res&) {
             Json out = Json::array();
             for (const auto& s : runtime.list()) out.push_back(summary_json(s, server));
             // In a cluster, the actors of the other nodes too (those of proxies here are listed).
             if (auto* c = server.cluster()) {
               for (const auto& e : c->directory()) {
                 if (e.node != c->config().node_name && !runtime.find(e.id)) out.push_back(remote_json(e));
               }
             }
             std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) { return a["id"] < b["id"]; });
             return Json{{"actors", std::move(out)}};
           }));

  http.Post("/v1/actors", json_route([&](const Req& req, Res& res) {
              JsonBody body(req.body, {{"manifest", FieldType::String},
                                       {"manifest_toml", FieldType::String},
                                       {"base_dir", FieldType::String},
                                       {"init_state", FieldType::String},
                                       {"init_state_encoding", FieldType::String},
                                       {"node", FieldType::String},
                                       {"placement", FieldType::String},
                                       {"parent", FieldType::String}});
              const auto path = body.str("manifest");
              const auto text = body.str("manifest_toml");
              if (path.has_value() == text.has_value()) {
                throw ApiError(400, "bad_request", "give exactly one of 'manifest' (a path on the server's machine) "
                                                   "or 'manifest_toml' (the manifest's text)");
              }
              Manifest manifest;
              if (path) {
                std::error_code ec;
                if (!std::filesystem::is_regular_file(*path, ec)) {
                  throw ApiError(400, "bad_manifest", fmt::format("no manifest file '{}' on the server's machine", *path));
                }
                manifest = load_manifest(*path);
              } else {
                manifest = parse_manifest(*text, body.str("base_dir").value_or("."), "<api>");
              }
              auto init = body.bytes("init_state", "init_state_encoding");
              // Under an actor of this node (404 if there is none, 409 if it runs on another node):
              // it supervises the new one, as if it had spawned it.
              const std::string parent = body.str("parent").value_or("");
              if (!parent.empty() && parent != "runtime") live_actor(server, parent);
              const std::string node = pick_node(server, body.str("node"), body.str("placement"));
              const bool here = node == server.node();
              if (!here && !path) {
                throw ApiError(400, "bad_request", fmt::format("an actor started on another node (here '{}') needs 'manifest' "
                                                               "(a path that node can read), not 'manifest_toml'", node));
              }
              std::string id;
              try {
                id = here ? runtime.spawn(manifest, init, parent)
                          : server.cluster()->spawn(manifest, init, parent == "runtime" ? "" : parent, {.node = node});
              } catch (const ManifestError&) {
                throw;
              } catch (const std::exception& e) {
                throw ApiError(422, "start_failed", e.what());
              }
              res.status = 201;
              // On another node: its init has run there (Cluster::spawn waits for it).
              auto a = runtime.find(id);
              return Json{{"id", id},
                          {"name", manifest.name},
                          {"status", !here ? "running" : a ? to_string(a->status()) : "stopped"},
                          {"node", node},
                          {"parent", parent.empty() ? "runtime" : parent}};
            }));

  http.Get("/v1/actors/" + kId, json_route([&](const Req& req, Res&) {
             const std::string id = req.matches[1];
             auto local = runtime.find(id);
             if (!(local && local->module)) {
               if (auto e = remote_entry(server, id)) return remote_json(*e);
             }
             return inspect_json(server, *live_actor(server, id));
           }));

  auto stop = json_route([&](const Req& req, Res&) {
    const std::string id = req.matches[1];
    JsonBody body(req.body, {});
    if (auto e = remote_only(server, id)) {  // its node stops it (its parent's turn is there)
      if (!runtime.stop(id)) throw ApiError(404, "ENOTFOUND", fmt::format("node '{}' did not stop '{}'", e->node, id));
      return Json{{"id", id}, {"stopped", true}, {"node", e->node}};
    }
    live_actor(server, id);
    if (!runtime.stop(id)) throw ApiError(404, "ENOTFOUND", fmt::format("no actor '{}'", id));
    return Json{{"id", id}, {"stopped", true}};
  });
  http.Delete("/v1/actors/" + kId, stop);
  http.Post("/v1/actors/" + kId + "/stop", stop);

  http.Post("/v1/actors/" + kId + "/restart", json_route([&](const Req& req, Res&) {
              const std::string id = req.matches[1];
              JsonBody body(req.body, {});
              if (auto e = remote_only(server, id)) {
                if (!runtime.restart(id)) {
                  throw ApiError(404, "ENOTFOUND", fmt::format("node '{}' did not restart '{}'", e->node, id));
                }
                return Json{{"id", id}, {"restarted", true}, {"node", e->node}};
              }
              live_actor(server, id);
              server.hub().mark_manual_restart(id);
              if (!runtime.restart(id)) throw ApiError(404, "ENOTFOUND", fmt::format("no actor '{}'", id));
              auto a = live_actor(server, id);
              return Json{{"id", id}, {"restarted", true}, {"restarts", a->restarts()}, {"status", to_string(a->status())}};
            }));

  http.Post("/v1/actors/" + kId + "/send", json_route([&](const Req& req, Res&) {
              const std::string id = req.matches[1];
              JsonBody body(req.body, {{"message", FieldType::String, true}, {"message_encoding", FieldType::String}});
              check_reachable(server, id);
              check_rc(runtime.send(id, *body.bytes("message", "message_encoding")), id);
              return Json{{"id", id}, {"sent", true}};
            }));

  http.Post("/v1/actors/" + kId + "/request", json_route([&](const Req& req, Res&) {
              const std::string id = req.matches[1];
              JsonBody body(req.body, {{"message", FieldType::String, true},
                                       {"message_encoding", FieldType::String},
                                       {"timeout_ms", FieldType::Integer}});
              const int64_t timeout = body.integer("timeout_ms").value_or(server.config().default_request_timeout.count());
              if (timeout < 1 || timeout > kMaxRequestTimeoutMs) {
                throw ApiError(400, "bad_request", fmt::format("'timeout_ms' must be between 1 and {}", kMaxRequestTimeoutMs));
              }
              check_reachable(server, id);
              auto r = runtime.request(id, *body.bytes("message", "message_encoding"), std::chrono::milliseconds(timeout));
              check_rc(r.rc, id);
              Json out{{"id", id}};
              put_bytes(out, "reply", r.reply);
              return out;
            }));

  http.Get("/v1/actors/" + kId + "/events", json_route([&](const Req& req, Res&) {
             EventQuery q;
             q.since = param_size(req, "since", 0, SIZE_MAX);
             q.limit = param_size(req, "limit", 1000, 1000);
             q.type = req.get_param_value("type");
             // Read first: a client that follows GET /v1/stream?since=<stream_cursor> misses nothing.
             const uint64_t cursor = server.hub().last_id();
             Json out = actor_events(runtime, req.matches[1], q);
             out["stream_cursor"] = cursor;
             return out;
           }));

  http.Get("/v1/actors/" + kId + "/logs", json_route([&](const Req& req, Res&) {
             EventQuery q;
             q.since = param_size(req, "since", 0, SIZE_MAX);
             q.limit = param_size(req, "limit", 1000, 1000);
             q.type = "log";
             const uint64_t cursor = server.hub().last_id();
             Json out = actor_events(runtime, req.matches[1], q);
             out["stream_cursor"] = cursor;
             return out;
           }));

  http.Get("/v1/actors/" + kId + "/verify",
           json_route([&](const Req& req, Res&) { return verify_actor(runtime, req.matches[1]); }));

  http.Post("/v1/actors/" + kId + "/upgrade", json_route([&](const Req& req, Res&) {
              JsonBody body(req.body, {{"component", FieldType::String},
                                       {"wasm", FieldType::String},
                                       {"wasm_encoding", FieldType::String}});
              UpgradeRequest u;
              u.component_path = body.str("component");
              u.wasm = body.bytes("wasm", "wasm_encoding");
              if (u.component_path.has_value() == u.wasm.has_value()) {
                throw ApiError(400, "bad_request", "give exactly one of 'component' (a .wasm path on the server's "
                                                   "machine) or 'wasm' (the module, with \"wasm_encoding\": \"base64\")");
              }
              return upgrade_actor(runtime, req.matches[1], u);
            }));

  http.Get("/v1/tree", json_route([&](const Req&, Res&) { return tree_node(server, "runtime", 0); }));
}

}  // namespace theater::server
