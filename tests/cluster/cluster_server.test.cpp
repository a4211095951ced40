// `theater server --cluster`: two server processes, nodes A and B of one cluster on a private
// nats-server. An actor started through A's API with "node": "B" runs on B, both servers list it
// with node B, requests through A reach it; an unknown node is a 400; the CLI's `start --node`
// does the same; the data dirs hold the token and no store; SIGTERM leaves the cluster cleanly.
#include <signal.h>

#include <set>

#include <httplib.h>

#include "base/files.hpp"
#include "base/process.hpp"
#include "cluster_fixture.hpp"
#include "server/auth.hpp"
#include "state/store.hpp"

namespace theater::test {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class ClusterServerTest : public ClusterTest {
 protected:
  struct ServerNode {
    std::filesystem::path data;
    std::unique_ptr<ChildProcess> process;
    std::string address;
    std::string token;
    // {status, parsed body} of a request to its API (status 0: no answer).
    std::pair<int, Json> call(const std::string& method, const std::string& path, const Json& body = nullptr) const {
      const auto colon = address.rfind(':');
      httplib::Client c(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
      c.set_bearer_token_auth(token);
      c.set_read_timeout(std::chrono::seconds(90));
      auto r = method == "GET" ? c.Get(path) : c.Post(path, body.is_null() ? "{}" : body.dump(), "application/json");
      if (!r) return {0, nullptr};
      return {r->status, Json::parse(r->body, nullptr, false)};
    }
    // The entry of `id` in its GET /v1/actors, or null.
    Json listed(const std::string& id) const {
      for (const auto& a : call("GET", "/v1/actors").second.value("actors", Json::array())) {
        if (a.value("id", "") == id) return a;
      }
      return nullptr;
    }
  };

  void TearDown() override {
    servers.clear();  // SIGTERM each (ChildProcess), before the nats-server goes
    for (const auto& d : dirs) std::filesystem::remove_all(d);
    ClusterTest::TearDown();
  }

  ServerNode& server_node(const std::string& name) {
    auto n = std::make_unique<ServerNode>();
    n->data = std::filesystem::temp_directory_path() /
              fmt::format("theater-cluster-server-{}-{}-{}", name, ::getpid(), std::rand());
    std::filesystem::remove_all(n->data);
    dirs.push_back(n->data);
    n->process = std::make_unique<ChildProcess>(
        std::vector<std::string>{THEATER_BINARY, "server", "--data", n->data.string(), "--listen", "127.0.0.1:0",
                                 "--cluster", nats->url(), "--node", name, "--heartbeat-ms", "150", "--workers", "1"},
        temp_log("theater-server-" + name));
    const std::string line = n->process->wait_for_line("listening on http://", 60s);
    EXPECT_FALSE(line.empty()) << n->process->output();
    if (!line.empty()) n->address = line.substr(line.find("http://") + 7);
    n->token = read_file_text(n->data / std::string(server::kTokenFile));
    while (!n->token.empty() && (n->token.back() == '\n' || n->token.back() == '\r')) n->token.pop_back();
    servers.push_back(std::move(n));
    return *servers.back();
  }

  // Until `n`'s GET /v1/server lists every one of `names` as a live node.
  static bool sees_nodes(const ServerNode& n, std::vector<std::string> names) {
    for (int i = 0; i < 200; ++i) {
      auto [s, info] = n.call("GET", "/v1/server");
      size_t live = 0;
      if (s == 200 && info["cluster"].is_object()) {
        for (const auto& node : info["cluster"]["nodes"]) {
          live += node.value("alive", false) &&
                  std::find(names.begin(), names.end(), node.value("name", "")) != names.end();
        }
      }
      if (live == names.size()) return true;
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }
  // Until `n` lists `id` (with some node); the entry or null.
  static Json wait_listed(const ServerNode& n, const std::string& id) {
    for (int i = 0; i < 200; ++i) {
      if (Json a = n.listed(id); !a.is_null()) return a;
      std::this_thread::sleep_for(25ms);
    }
    return nullptr;
  }

  std::vector<std::unique_ptr<ServerNode>> servers;
  std::vector<std::filesystem::path> dirs;
};

TEST_F(ClusterServerTest, AnActorStartedThroughAOnBRunsOnBAndAnswersThroughA) {
  auto& a = server_node("A");
  auto& b = server_node("B");
  ASSERT_FALSE(a.address.empty());
  ASSERT_FALSE(b.address.empty());
  EXPECT_NE(a.process->output().find("committed state is kept in JetStream"), std::string::npos) << a.process->output();
  ASSERT_TRUE(sees_nodes(a, {"A", "B"})) << a.call("GET", "/v1/server").second.dump();
  auto [is, info] = a.call("GET", "/v1/server");
  EXPECT_EQ(info["node"], "A");
  EXPECT_EQ(info["cluster"]["name"], "theater");

  const std::string counter = (cluster_examples_dir() / "counter.toml").string();
  auto [s, started] = a.call("POST", "/v1/actors", Json{{"manifest", counter}, {"node", "B"}});
  ASSERT_EQ(s, 201) << started.dump() << "\n" << a.process->output() << "\n" << b.process->output();
  EXPECT_EQ(started["node"], "B");
  const std::string id = started.value("id", "");

  // B runs it; A lists it as B's.
  Json on_b = wait_listed(b, id);
  ASSERT_FALSE(on_b.is_null()) << b.call("GET", "/v1/actors").second.dump();
  EXPECT_EQ(on_b["node"], "B");
  EXPECT_EQ(on_b["status"], "running");
  Json on_a = wait_listed(a, id);
  ASSERT_FALSE(on_a.is_null()) << a.call("GET", "/v1/actors").second.dump();
  EXPECT_EQ(on_a["node"], "B");
  EXPECT_EQ(on_a["remote"], true);
  EXPECT_EQ(b.call("GET", "/v1/actors/" + id).second["node"], "B");
  EXPECT_EQ(a.call("GET", "/v1/actors/" + id).second["node"], "B");

  // Messages through A's API reach it on B.
  EXPECT_EQ(a.call("POST", "/v1/actors/" + id + "/send", Json{{"message", "add 4"}}).first, 200);
  auto [rs, reply] = a.call("POST", "/v1/actors/" + id + "/request", Json{{"message", "get"}});
  EXPECT_EQ(rs, 200) << reply.dump();
  EXPECT_EQ(reply["reply"], "4");
  EXPECT_EQ(b.call("POST", "/v1/actors/" + id + "/request", Json{{"message", "get"}}).second["reply"], "4");
  // Restarting and stopping it through A: B does it (its parent's turn is there).
  auto [rrs, restarted] = a.call("POST", "/v1/actors/" + id + "/restart");
  EXPECT_EQ(rrs, 200) << restarted.dump();
  EXPECT_EQ(restarted["node"], "B");
  EXPECT_EQ(b.call("GET", "/v1/actors/" + id).second["restarts"], 1) << b.call("GET", "/v1/actors/" + id).second.dump();
  EXPECT_EQ(a.call("POST", "/v1/actors/" + id + "/request", Json{{"message", "get"}}).second["reply"], "4")
      << "a restart keeps the committed state";
  auto [es, events] = a.call("GET", "/v1/actors/" + id + "/events?type=restarted");
  EXPECT_EQ(es, 200) << events.dump();
  EXPECT_EQ(events["source"], "node") << events.dump();
  ASSERT_EQ(events["events"].size(), 1u) << events.dump();
  EXPECT_EQ(events["events"][0]["actor"], id);

  // An unknown node, an unknown policy.
  auto [us, unknown] = a.call("POST", "/v1/actors", Json{{"manifest", counter}, {"node", "Z"}});
  EXPECT_EQ(us, 400) << unknown.dump();
  EXPECT_NE(unknown["error"]["message"].get<std::string>().find("no node 'Z'"), std::string::npos) << unknown.dump();
  auto [ps, policy] = a.call("POST", "/v1/actors", Json{{"manifest", counter}, {"placement", "random"}});
  EXPECT_EQ(ps, 400) << policy.dump();
  EXPECT_NE(policy["error"]["message"].get<std::string>().find("'random'"), std::string::npos) << policy.dump();
  // Manifest text cannot go to another node (it adopts actors by their manifest's path).
  auto [ts, text] = a.call("POST", "/v1/actors", Json{{"manifest_toml", read_file_text(counter)}, {"node", "B"}});
  EXPECT_EQ(ts, 400) << text.dump();

  // The CLI: `theater start --node B` through A; `--placement`.
  auto cli = run_process({THEATER_BINARY, "start", counter, "--node", "B", "--json", "--server", a.address, "--data",
                          a.data.string()});
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  const Json by_cli = Json::parse(cli.output);
  EXPECT_EQ(by_cli["node"], "B");
  EXPECT_EQ(wait_listed(b, by_cli["id"]).value("node", ""), "B");
  auto near = run_process({THEATER_BINARY, "start", counter, "--placement", "near-parent", "--server", a.address,
                           "--data", a.data.string()});
  EXPECT_EQ(near.exit_code, 0) << near.output;
  EXPECT_NE(near.output.find("node A)"), std::string::npos) << near.output;
  auto list = run_process({THEATER_BINARY, "list", "--server", a.address, "--data", a.data.string()});
  EXPECT_NE(list.output.find("NODE"), std::string::npos) << list.output;
  auto bad = run_process({THEATER_BINARY, "start", counter, "--node", "Z", "--server", a.address, "--data",
                          a.data.string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("no node 'Z'"), std::string::npos) << bad.output;

  // In cluster mode the data dir keeps the token and, in a store of the node's own, the event
  // chains of the actors it hosts: B has the chain of the actor that runs there, A none of it.
  for (const auto* n : {&a, &b}) {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(n->data)) names.insert(entry.path().filename());
    EXPECT_EQ(names, (std::set<std::string>{std::string(server::kTokenFile), n == &a ? "node-theater-A" : "node-theater-B"}));
  }
  auto chains_b = state::Store::open_read_only(b.data / "node-theater-B");
  EXPECT_FALSE(chains_b->events(id).empty());
  EXPECT_FALSE(chains_b->verify(id));
  EXPECT_TRUE(state::Store::open_read_only(a.data / "node-theater-A")->events(id).empty());

  auto [ss, stopped] = a.call("POST", "/v1/actors/" + id + "/stop");
  EXPECT_EQ(ss, 200) << stopped.dump();
  EXPECT_EQ(stopped["node"], "B");
  EXPECT_TRUE(b.listed(id).is_null()) << "stopped on B";
  EXPECT_EQ(a.call("POST", "/v1/actors/" + id + "/stop").first, 404) << "gone from the cluster";
  const std::string id2 = wait_listed(b, by_cli["id"]).value("id", "");

  // SIGTERM: B stops its actors (they leave the directory) and leaves; A lists them no more.
  b.process->signal(SIGTERM);
  EXPECT_EQ(b.process->wait_exit(30s), 0) << b.process->output();
  EXPECT_NE(b.process->output().find("left cluster theater (node B)"), std::string::npos) << b.process->output();
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = a.listed(id2).is_null();
    if (!gone) std::this_thread::sleep_for(25ms);
  }
  EXPECT_TRUE(gone) << a.call("GET", "/v1/actors").second.dump();
  (void)id2;
  a.process->signal(SIGTERM);
  EXPECT_EQ(a.process->wait_exit(30s), 0) << a.process->output();
}

// --cluster needs --node, and --node (or --heartbeat-ms, --sync-state) needs --cluster.
TEST_F(ClusterServerTest, ClusterFlagsAreChecked) {
  const auto data = std::filesystem::temp_directory_path() / fmt::format("theater-cluster-flags-{}", ::getpid());
  dirs.push_back(data);
  auto no_node = run_process({THEATER_BINARY, "server", "--data", data.string(), "--listen", "127.0.0.1:0",
                              "--cluster", nats->url()});
  EXPECT_NE(no_node.exit_code, 0) << no_node.output;
  EXPECT_NE(no_node.output.find("node"), std::string::npos) << no_node.output;
  auto no_cluster = run_process({THEATER_BINARY, "server", "--data", data.string(), "--listen", "127.0.0.1:0",
                                 "--node", "A"});
  EXPECT_NE(no_cluster.exit_code, 0) << no_cluster.output;
  EXPECT_NE(no_cluster.output.find("--cluster"), std::string::npos) << no_cluster.output;
}

}  // namespace theater::test
