#pragma once
// A runtime and a server on a free loopback port with a fresh data directory, per test, plus an
// HTTP client that carries the token (and one that does not).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "actor/runtime.hpp"
#include "server/server.hpp"

namespace theater::test {

inline std::filesystem::path fresh_dir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() /
             ("theater-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir = fresh_dir("server");
    RuntimeConfig rc;
    rc.workers = 2;
    rc.root_supervision.max_restarts = 100;
    runtime = std::make_unique<Runtime>(rc);
    server::ServerConfig sc;
    sc.port = 0;
    sc.data_dir = data_dir;
    sc.max_body_bytes = 1 << 20;
    configure(sc);
    srv = std::make_unique<server::Server>(*runtime, sc);
    srv->start();
  }
  void TearDown() override {
    srv.reset();
    runtime.reset();
    std::filesystem::remove_all(data_dir);
  }
  virtual void configure(server::ServerConfig&) {}

  std::unique_ptr<httplib::Client> client(bool with_token = true) {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", srv->port());
    if (with_token) c->set_bearer_token_auth(srv->token());
    c->set_tcp_nodelay(true);
    c->set_read_timeout(std::chrono::seconds(60));
    return c;
  }
  // POST a JSON body; returns {status, parsed body (null if not JSON)}.
  std::pair<int, nlohmann::json> post(const std::string& path, const std::string& body) {
    auto r = client()->Post(path, body, "application/json");
    if (!r) return {0, nullptr};
    return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
  }
  std::pair<int, nlohmann::json> get(const std::string& path) {
    auto r = client()->Get(path);
    if (!r) return {0, nullptr};
    return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
  }
  std::string start(const std::string& example) {
    auto manifest = std::filesystem::path(THEATER_EXAMPLES_DIR) / (example + ".toml");
    auto [status, body] = post("/v1/actors", nlohmann::json{{"manifest", manifest.string()}}.dump());
    EXPECT_EQ(status, 201) << body.dump();
    return body.value("id", "");
  }

  std::filesystem::path data_dir;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<server::Server> srv;  // declared last: destroyed first
};

}  // namespace theater::test
