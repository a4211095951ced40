// theater cluster --cluster nats://HOST:PORT: the nodes of a cluster (alive or silent), their load
// and the actors each one hosts, as an observer that joins nothing (docs/cluster.md).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cluster/cluster.hpp"

namespace theater::cli {

namespace {

struct ClusterOptions {
  std::string url = "nats://127.0.0.1:4222";
  std::string name = "theater";
  unsigned listen_ms = 600;
  bool json = false;
};

int show(const ClusterOptions& o) {
  cluster::ClusterView view;
  try {
    view = cluster::Cluster::observe(o.url, o.name, std::chrono::milliseconds(o.listen_ms));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  if (o.json) {
    auto out = nlohmann::json::array();
    for (const auto& n : view.nodes) {
      auto actors = nlohmann::json::array();
      for (const auto& e : view.actors[n.name]) actors.push_back({{"id", e.id}, {"name", e.name}, {"parent", e.parent}});
      out.push_back({{"node", n.name}, {"alive", n.alive}, {"actors", actors}});
    }
    std::cout << out.dump() << std::endl;
    return 0;
  }
  if (view.nodes.empty()) {
    fmt::print("no nodes in cluster '{}' at {}\n", o.name, o.url);
    return 0;
  }
  fmt::print("{:<16} {:<8} {:>6}  actors\n", "node", "status", "load");
  for (const auto& n : view.nodes) {
    const auto& hosted = view.actors[n.name];
    std::string names;
    for (const auto& e : hosted) names += fmt::format("{}{}", names.empty() ? "" : ", ", e.id);
    fmt::print("{:<16} {:<8} {:>6}  {}\n", n.name, n.alive ? "alive" : "silent", hosted.size(), names);
  }
  return 0;
}

}  // namespace

void add_cluster_command(CLI::App& app) {
  auto opts = std::make_shared<ClusterOptions>();
  auto* cmd = app.add_subcommand("cluster", "Show the nodes of a cluster, their load and the actors each hosts");
  cmd->add_option("--cluster", opts->url, "The cluster's NATS url (default nats://127.0.0.1:4222)");
  cmd->add_option("--name", opts->name, "The cluster's name (default theater)");
  cmd->add_option("--listen-ms", opts->listen_ms, "How long to listen for heartbeats (default 600)");
  cmd->add_flag("--json", opts->json, "One JSON array of nodes");
  cmd->callback([opts] { set_exit_code(show(*opts)); });
}

}  // namespace theater::cli
