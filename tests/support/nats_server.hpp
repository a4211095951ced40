#pragma once
// For cluster tests and benchmarks: a private nats-server with JetStream on a free loopback port
// and a temporary store folder, started and stopped by pid. Node processes (`theater run
// --cluster ...`) are support/child_process.hpp's, with their output in temp_log() files.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/child_process.hpp"

namespace theater::test {

// The nats-server binary (PATH, then /usr/sbin), or "" if it is not installed.
std::string nats_server_binary();

// A log file in a fresh temporary folder, for a process the test starts.
std::filesystem::path temp_log(const std::string& what);

class NatsServer {
 public:
  // Starts at once on a free port; throws std::runtime_error if it does not come up.
  NatsServer();
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  std::string url() const;
  void stop();     // SIGTERM, then waits
  void restart();  // same port and store: JetStream state survives
  pid_t pid() const { return pid_; }

 private:
  void launch(bool may_move_port = false);
  int port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path dir_;
};

}  // namespace theater::test
