#pragma once
// `theater server`: the runtime with a door. An HTTP/1.1 management API with JSON bodies
// (api.cpp), a stream of events (Server-Sent Events, stream.cpp), Prometheus metrics
// (metrics.cpp) and the dashboard's static files (dashboard.cpp), all behind one bearer token
// (auth.hpp). docs/server.md documents every endpoint.
//
//   client -> httplib worker thread -> auth (pre-routing) -> route -> Runtime facade
//   Runtime::observe -> EventHub (numbered ring) -> SSE streams, metrics, inspect's uptime
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "actor/runtime.hpp"
#include "server/event_hub.hpp"

namespace httplib {
class Server;
}

namespace theater::cluster {
class Cluster;
}

namespace theater::server {

inline constexpr int kDefaultPort = 7420;
inline constexpr std::string_view kDefaultHost = "127.0.0.1";

struct ServerConfig {
  std::string host = std::string(kDefaultHost);
  int port = kDefaultPort;  // 0 = any free port (see Server::port())
  std::filesystem::path data_dir;  // holds the token
  std::string token;               // empty: <data_dir>/token, made on first start
  size_t max_body_bytes = 8u << 20;
  size_t threads = 32;             // HTTP worker threads (each keep-alive client or stream holds one)
  size_t max_streams = 16;         // open event streams at once; more get 503
  std::chrono::milliseconds default_request_timeout{30000};
  // The cluster this server's runtime joined (docs/cluster.md), or null: a single node, named
  // kLocalNode in the API.
  std::shared_ptr<cluster::Cluster> cluster;
};

// The node name a server without a cluster gives its actors in the API.
inline constexpr std::string_view kLocalNode = "local";

// "127.0.0.1:7420", "[::1]:7420", "localhost:7420", ":7420" (loopback), "7420" -> host, port.
// Throws std::invalid_argument with a readable message.
std::pair<std::string, int> parse_listen_address(const std::string& text);
bool is_loopback_host(const std::string& host);

// An event for the hub that is about the server itself (actor "" ), e.g. compile progress.
Event server_event(std::string type, std::string detail);

class Server {
 public:
  // `hub` may be shared with whoever reports into it before the server exists (the engine's
  // progress callback); null makes one. The server observes `runtime` into the hub.
  Server(Runtime& runtime, ServerConfig config, std::shared_ptr<EventHub> hub = nullptr);
  ~Server();
  Server(const Server&) = delete;

  // Binds and serves on a background thread. Throws std::runtime_error if it cannot bind.
  void start();
  // Stops accepting, ends event streams, waits for the requests in flight. Idempotent.
  void stop();

  int port() const { return port_; }
  std::string address() const;  // host:port as bound
  const std::string& token() const { return config_.token; }
  EventHub& hub() { return *hub_; }
  const ServerConfig& config() const { return config_; }
  Runtime& runtime() { return runtime_; }
  cluster::Cluster* cluster() const { return config_.cluster.get(); }
  std::string node() const;  // this server's node: its cluster node name, else kLocalNode
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }

 private:
  void install_auth();

  Runtime& runtime_;
  ServerConfig config_;
  std::shared_ptr<EventHub> hub_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  std::chrono::steady_clock::time_point started_at_;
};

// The Prometheus text (metrics.cpp).
std::string render_metrics(Server& server);

// Route groups, each in its own file.
void add_api_routes(httplib::Server& http, Server& server);        // api.cpp
void add_stream_routes(httplib::Server& http, Server& server);     // stream.cpp
void add_metrics_routes(httplib::Server& http, Server& server);    // metrics.cpp
void add_dashboard_routes(httplib::Server& http, Server& server);  // dashboard.cpp

}  // namespace theater::server
