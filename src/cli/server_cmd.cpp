// theater server: the runtime with its management API, event stream, metrics and dashboard
// (src/server/). Runs until SIGTERM or Ctrl-C, then stops accepting, stops the tree in order and
// lets the runtime flush its store. With --cluster it is a node of a cluster (docs/cluster.md):
// the data dir keeps only the token, the actors' committed state lives in JetStream.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <set>
#include <iostream>
#include <mutex>

#include <fmt/format.h>

#include "actor/runtime.hpp"
#include "cli/client.hpp"
#include "cli/commands.hpp"
#include "cli/event_view.hpp"
#include "cluster/cluster.hpp"
#include "server/auth.hpp"
#include "server/http_util.hpp"
#include "server/server.hpp"

namespace theater::cli {

namespace {

struct ServerOptions {
  std::string data_dir;
  std::string listen = fmt::format("{}:{}", server::kDefaultHost, server::kDefaultPort);
  std::vector<std::string> start;
  std::string engine = "aot";
  unsigned workers = 0;
  unsigned hibernate_after_ms = 0;
  size_t max_body = 8u << 20;
  size_t http_threads = 32;
  bool quiet = false;
  bool json = false;
  cluster::ClusterConfig cluster;  // nats_url empty: a single node
  unsigned heartbeat_ms = 250;
  bool sync_state = false;
};

int serve(const ServerOptions& o) {
  // Every thread made from here on inherits this mask: the signals wait for sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  server::ServerConfig sc;
  try {
    std::tie(sc.host, sc.port) = server::parse_listen_address(o.listen);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: --listen {}\n", e.what());
    return kExitUsage;
  }
  if (!server::is_loopback_host(sc.host)) {
    fmt::print(stderr, "warning: listening on {}, not loopback: anyone who can reach it and has the token can "
                       "run code here\n", sc.host);
  }
  sc.data_dir = o.data_dir.empty() ? default_data_dir() : std::filesystem::path(o.data_dir);
  sc.max_body_bytes = o.max_body;
  sc.threads = o.http_threads;

  std::mutex print_mutex;
  auto hub = std::make_shared<server::EventHub>();
  RuntimeConfig config;
  config.workers = o.workers;
  // In a cluster the committed states are in JetStream (with the head of each actor's chain);
  // this node keeps the chains of the actors it hosts in a store of its own, which is never
  // recovered from: the cluster takes back what its directory says this node hosts.
  const bool clustered = !o.cluster.nats_url.empty();
  if (!clustered) {
    config.data_dir = sc.data_dir;
  } else if (cluster::valid_node_name(o.cluster.node_name) && cluster::valid_node_name(o.cluster.cluster_name)) {
    config.data_dir = sc.data_dir / fmt::format("node-{}-{}", o.cluster.cluster_name, o.cluster.node_name);
  }
  config.hibernate_after = std::chrono::milliseconds(o.hibernate_after_ms);
  config.engine.tier = o.engine == "interp" ? engine::Tier::Interp : engine::Tier::Aot;
  config.engine.progress = [hub, last = std::make_shared<std::atomic<int>>(-1)](std::string_view what, double fraction) {
    const int percent = static_cast<int>(fraction * 100);
    if (last->exchange(percent) == percent) return;  // one event per percent is plenty
    hub->publish(server::server_event("progress", fmt::format("{} {:3d}%", what, percent)));
  };
  try {
    // The token first: it makes the data directory, owner-only, before the runtime writes there.
    sc.token = server::load_or_create_token(sc.data_dir);
    Runtime runtime(config);
    std::shared_ptr<cluster::Cluster> cluster;  // after the runtime: it leaves first
    if (clustered) {
      auto cc = o.cluster;
      cc.heartbeat = std::chrono::milliseconds(o.heartbeat_ms);
      cc.durability = o.sync_state ? cluster::Durability::Sync : cluster::Durability::Async;
      cluster = cluster::Cluster::join(runtime, cc);
      sc.cluster = cluster;
    }
    runtime.observe([&](const Event& e) {
      if (o.quiet && e.type != "failed" && e.type != "tree-stopped") return;
      std::lock_guard lock(print_mutex);
      // Not Event::json(): an actor's log line need not be UTF-8, and that must not throw here.
      std::cout << (o.json ? server::json_text({{"time_ms", e.time_ms}, {"actor", e.actor}, {"name", e.name},
                                                {"type", e.type}, {"detail", e.detail}})
                           : format_event(e, ::isatty(1)))
                << std::endl;
    });
    server::Server srv(runtime, sc, hub);
    srv.start();
    {
      std::lock_guard lock(print_mutex);
      if (o.json) {
        nlohmann::json ready{{"listening", srv.address()}, {"data_dir", sc.data_dir.string()}};
        if (cluster) {
          ready["cluster"] = cluster->config().cluster_name;
          ready["node"] = cluster->config().node_name;
          ready["state"] = "jetstream";
          ready["chain_dir"] = config.data_dir.string();
        }
        std::cout << ready.dump() << std::endl;
      } else {
        fmt::print("theater server listening on http://{}\n", srv.address());
        fmt::print("  token      {}\n", (sc.data_dir / server::kTokenFile).string());
        fmt::print("  dashboard  http://{}/?token={}\n", srv.address(), srv.token());
        fmt::print("  metrics    http://{}/metrics\n", srv.address());
        if (cluster) {
          fmt::print("  cluster    {} at {} as node {}: actors' committed state is kept in JetStream; "
                     "their event chains in {}\n",
                     cluster->config().cluster_name, cluster->config().nats_url, cluster->config().node_name,
                     config.data_dir.string());
        }
        std::cout.flush();
      }
    }
    // The tree stored in the data dir comes back first (same ids, last committed states); a
    // --start manifest whose top-level actor came back is not started a second time.
    std::set<std::string> recovered_names;
    try {
      // (A clustered runtime's store holds chains only: nothing to recover here; the cluster
      // takes back what the directory says this node hosted.)
      for (const auto& id : clustered ? std::vector<std::string>{} : runtime.recover()) {
        if (auto actor = runtime.find(id)) recovered_names.insert(actor->manifest().name);
        std::lock_guard lock(print_mutex);
        if (!o.json) fmt::print("recovered {} from {}\n", id, sc.data_dir.string());
        std::cout.flush();
      }
    } catch (const std::exception& e) {
      fmt::print(stderr, "error: recovering the tree in {}: {}\n", sc.data_dir.string(), e.what());
      srv.stop();
      return kExitUsage;
    }
    for (const auto& m : o.start) {
      try {
        auto manifest = load_manifest(m);
        if (recovered_names.contains(manifest.name)) {
          std::lock_guard lock(print_mutex);
          if (!o.json) fmt::print("--start {}: its actor '{}' was recovered from the data dir; not started again\n", m, manifest.name);
          std::cout.flush();
          continue;
        }
        const std::string id = runtime.spawn(manifest);
        std::lock_guard lock(print_mutex);
        if (!o.json) fmt::print("started {} from {}\n", id, m);
        std::cout.flush();
      } catch (const std::exception& e) {
        fmt::print(stderr, "error: --start {}: {}\n", m, e.what());
        srv.stop();
        return kExitUsage;
      }
    }
    int sig = 0;
    sigwait(&stop_signals, &sig);
    {
      std::lock_guard lock(print_mutex);
      if (!o.json) fmt::print("{}: stopping (no new requests; the tree stops in order)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      std::cout.flush();
    }
    srv.stop();          // stop accepting; requests in flight finish, event streams end
    runtime.shutdown();  // the tree, in reverse start order (its actors leave the directory)
    if (cluster) {
      cluster->detach();  // heartbeats stop, connections close: the node has left
      std::lock_guard lock(print_mutex);
      if (!o.json) fmt::print("left cluster {} (node {})\n", cluster->config().cluster_name, cluster->config().node_name);
      std::cout.flush();
    }
    {
      std::lock_guard lock(print_mutex);
      if (!o.json) fmt::print("stopped\n");
      std::cout.flush();
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return kExitUsage;
  }
  return 0;
}

}  // namespace

void add_server_command(CLI::App& app) {
  auto o = std::make_shared<ServerOptions>();
  auto* cmd = app.add_subcommand("server", "Run the runtime as a server: HTTP API, event stream, metrics, dashboard");
  cmd->add_option("--data", o->data_dir, "Data directory: token, durable state (default: $THEATER_DATA, else "
                                         "~/.local/share/theater)");
  cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (port 0: any free one)")->capture_default_str();
  cmd->add_option("--start", o->start, "Start this manifest's actor once serving (repeatable)")->check(CLI::ExistingFile);
  cmd->add_option("--engine", o->engine, "aot (default) or interp")->check(CLI::IsMember({"aot", "interp"}));
  cmd->add_option("--workers", o->workers, "Worker threads (default: one per core)");
  cmd->add_option("--hibernate-after", o->hibernate_after_ms, "Idle actors drop their instance after this many ms (0: never)");
  cmd->add_option("--max-body", o->max_body, "Largest request body in bytes")->capture_default_str();
  cmd->add_option("--http-threads", o->http_threads, "HTTP worker threads (each open client connection holds one)")
      ->capture_default_str();
  o->cluster.nats_url.clear();  // no --cluster, no cluster
  cmd->add_option("--cluster", o->cluster.nats_url, "Join the cluster at this NATS url (nats://HOST:PORT); the "
                                                    "actors' committed state then lives in JetStream, and --data "
                                                    "keeps this node's event chains");
  cmd->add_option("--node", o->cluster.node_name, "This node's name in the cluster")->needs("--cluster");
  cmd->add_option("--heartbeat-ms", o->heartbeat_ms, "Cluster heartbeat period (a node silent for 4 is down)")
      ->needs("--cluster");
  cmd->add_flag("--sync-state", o->sync_state, "Cluster: release a reply only once the state is in JetStream")
      ->needs("--cluster");
  cmd->add_flag("--quiet", o->quiet, "Print only failures, not every event");
  cmd->add_flag("--json", o->json, "Print events as JSON lines");
  cmd->callback([o] { set_exit_code(serve(*o)); });
}

}  // namespace theater::cli
