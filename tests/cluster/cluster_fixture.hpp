#pragma once
// Cluster tests: a private nats-server (JetStream, loopback, free port, temporary store) per
// test, and nodes made of a Runtime joined to the cluster in this process, or `theater run
// --cluster` processes. Skips, saying why, when nats-server is not installed.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "cluster/cluster.hpp"
#include "support/nats_server.hpp"

namespace theater::test {

inline std::filesystem::path cluster_examples_dir() { return THEATER_EXAMPLES_DIR; }

class ClusterTest : public ::testing::Test {
 protected:
  struct Node {
    std::mutex mutex;
    std::vector<Event> events;
    std::shared_ptr<cluster::Cluster> cluster;
    std::unique_ptr<Runtime> runtime;  // declared last: destroyed first (it still reports events)
    std::vector<Event> events_of(const std::string& id, const std::string& type) {
      std::lock_guard lock(mutex);
      std::vector<Event> out;
      for (const auto& e : events) {
        if (e.actor == id && e.type == type) out.push_back(e);
      }
      return out;
    }
  };

  void SetUp() override {
    if (nats_server_binary().empty()) {
      GTEST_SKIP() << "nats-server is not installed (apt-get install nats-server): cluster tests skipped";
    }
    nats = std::make_unique<NatsServer>();  // one per test: the cluster name can stay "theater"
  }
  void TearDown() override {
    nodes.clear();  // runtimes first (their actors leave the directory), then the server
    nats.reset();
  }

  cluster::ClusterConfig config(const std::string& name) {
    cluster::ClusterConfig c;
    c.nats_url = nats->url();
    c.node_name = name;
    c.heartbeat = std::chrono::milliseconds(150);  // the node processes' too (--heartbeat-ms)
    c.missed_heartbeats = 4;
    return c;
  }
  // data_dir: this node keeps its actors' event chains there (as `theater run --data`).
  Node& node(const std::string& name, std::optional<cluster::ClusterConfig> c = std::nullopt,
             const std::filesystem::path& data_dir = {}) {
    auto n = std::make_unique<Node>();
    RuntimeConfig rc;
    rc.workers = 2;
    rc.data_dir = data_dir;
    n->runtime = std::make_unique<Runtime>(rc);
    auto* raw = n.get();
    n->runtime->observe([raw](const Event& e) {
      std::lock_guard lock(raw->mutex);
      raw->events.push_back(e);
    });
    n->cluster = cluster::Cluster::join(*n->runtime, c ? *c : config(name));
    nodes.push_back(std::move(n));
    return *nodes.back();
  }
  Manifest example(const std::string& name) { return load_manifest(cluster_examples_dir() / (name + ".toml")); }

  // `theater run <manifest> --cluster ... --node name --json`, as its own process.
  std::unique_ptr<ChildProcess> node_process(const std::string& name, const std::string& manifest,
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{std::string(THEATER_BUILD_DIR) + "/theater", "run",
                                  (cluster_examples_dir() / (manifest + ".toml")).string(),
                                  "--cluster", nats->url(), "--node", name, "--json",
                                  "--heartbeat-ms", "150", "--workers", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<ChildProcess>(argv, temp_log("theater-node"));
  }
  // The id of the actor whose "started" event a node process printed.
  static std::string started_id(const ChildProcess& p) {
    auto line = p.wait_for_line("\"type\":\"started\"", std::chrono::seconds(60));
    if (line.empty()) return "";
    return nlohmann::json::parse(line).value("actor", "");
  }

  std::unique_ptr<NatsServer> nats;
  std::vector<std::unique_ptr<Node>> nodes;
};

}  // namespace theater::test
