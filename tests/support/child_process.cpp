#include "support/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

extern char** environ;

namespace theater::test {

ChildProcess::ChildProcess(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  spawn(argv, fds[1], nullptr);
  ::close(fds[1]);
  fd_ = fds[0];
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log) : log_(log) {
  spawn(argv, -1, &log_);
}

void ChildProcess::spawn(const std::vector<std::string>& argv, int out_fd, const std::filesystem::path* log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (log)
    posix_spawn_file_actions_addopen(&actions, 1, log->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  else
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&actions);
}

ChildProcess::~ChildProcess() {
  if (running()) {
    ::kill(pid_, SIGCONT);  // in case the test stopped it
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 300 && running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
  if (fd_ >= 0) ::close(fd_);
  if (!log_.empty()) {  // its output went to a file (a test shows it where it matters): tidy up
    std::error_code ec;
    std::filesystem::remove(log_, ec);
    std::filesystem::remove(log_.parent_path(), ec);  // the temp_log() folder, once empty
  }
}

void ChildProcess::reaped(int st) {
  pid_ = -1;
  status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) reaped(st);
  return pid_ > 0;
}

std::optional<std::string> ChildProcess::line() {
  for (;;) {
    if (auto nl = buf_.find('\n'); nl != std::string::npos) {
      auto l = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return l;
    }
    if (fd_ < 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (buf_.empty()) return std::nullopt;
      return std::exchange(buf_, {});
    }
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

std::string ChildProcess::output() const {
  std::ifstream f(log_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Reads the output every 20 ms until `found` says yes (true) or `limit` passes (false).
template <typename Found>
static bool poll_output(const ChildProcess& p, std::chrono::milliseconds limit, Found found) {
  const auto until = std::chrono::steady_clock::now() + limit;
  do {
    if (found(p.output())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

bool ChildProcess::wait_for(const std::string& text, std::chrono::milliseconds limit, size_t count) const {
  return poll_output(*this, limit, [&](const std::string& out) {
    size_t n = 0;
    for (size_t pos = out.find(text); pos != std::string::npos; pos = out.find(text, pos + 1)) ++n;
    return n >= count;
  });
}

std::string ChildProcess::wait_for_line(const std::string& needle, std::chrono::milliseconds limit) const {
  std::string hit;
  poll_output(*this, limit, [&](const std::string& out) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(needle) != std::string::npos) {
        hit = line;
        return true;
      }
    }
    return false;
  });
  return hit;
}

void ChildProcess::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

void ChildProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait();
}

int ChildProcess::wait() {
  if (pid_ <= 0) return status_;
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  reaped(st);
  return status_;
}

int ChildProcess::wait_exit(std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    int st = 0;
    if (pid_ <= 0) return status_ >= 0 && status_ < 128 ? status_ : -1;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      reaped(st);
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

}  // namespace theater::test
