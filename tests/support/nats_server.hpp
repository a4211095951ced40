#pragma once
// For cluster tests and benchmarks: a private nats-server with JetStream on a free loopback port
// and a temporary store folder, started and stopped by pid; and node processes (`theater run
// --cluster ...`) whose output goes to a file the test reads.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace theater::test {

// The nats-server binary (PATH, then /usr/sbin), or "" if it is not installed.
std::string nats_server_binary();

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

// A child process with stdout and stderr in a log file.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(const ChildProcess&) = delete;
  void signal(int sig);
  int wait();  // exit code, or -signal
  bool running();
  std::string output() const;
  // Waits until the output has a line containing `needle`; returns that line, or "" on timeout.
  std::string wait_for_line(const std::string& needle, std::chrono::milliseconds timeout) const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::filesystem::path log_;
};

}  // namespace theater::test
