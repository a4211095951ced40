#include "support/nats_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "base/process.hpp"

namespace theater::test {

namespace {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::filesystem::path temp_dir(const std::string& what) {
  static std::mt19937_64 rng{std::random_device{}()};
  auto dir = std::filesystem::temp_directory_path() / (what + "-" + std::to_string(rng() % 1000000000));
  std::filesystem::create_directories(dir);
  return dir;
}

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

}  // namespace

std::string nats_server_binary() {
  auto path = find_program("nats-server");
  if (!path.empty()) return path;
  return std::filesystem::exists("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "";
}

std::filesystem::path temp_log(const std::string& what) { return temp_dir(what) / "out.log"; }

NatsServer::NatsServer() : port_(free_port()), dir_(temp_dir("theater-nats")) { launch(true); }

NatsServer::~NatsServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string NatsServer::url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

// Waits until our nats-server is ready. An open port is not enough: free_port() only saw the
// port free a moment ago, and another test's server (tests run in parallel) may have taken it;
// then ours cannot bind and exits, and its nodes would join the other test's cluster. So ours
// must still run and have said "Server is ready" in its own log. On a first start it moves to
// another free port; a restart keeps its port (its nodes reconnect there) or fails.
void NatsServer::launch(bool may_move_port) {
  const auto binary = nats_server_binary();
  if (binary.empty()) throw std::runtime_error("nats-server is not installed");
  const auto log = dir_ / "server.log";
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::filesystem::remove(log);
    pid_ = spawn({binary, "-js", "-a", "127.0.0.1", "-p", std::to_string(port_), "-sd", (dir_ / "js").string()},
                 log);
    for (int i = 0; i < 500; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::ifstream in(log);
      std::stringstream text;
      text << in.rdbuf();
      if (text.str().find("Server is ready") != std::string::npos && port_open(port_)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (pid_ > 0 || !may_move_port) break;  // still starting after 5 s, or a restart: give up
    port_ = free_port();
  }
  stop();
  throw std::runtime_error("nats-server did not start; see " + log.string());
}

void NatsServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void NatsServer::restart() {
  stop();
  launch();
}

}  // namespace theater::test
