#pragma once
// A program a test starts (posix_spawn) and watches: its stdout and stderr go either to a file,
// read whole while it runs, or to a pipe, read line by line. The destructor kills and reaps it.
// One class for every test (two test files once had their own `Child` with the same name, which
// the linker merged into one: an ODR violation ASan caught as a bus error).
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace theater::test {

class ChildProcess {
 public:
  // Output to a pipe: read it with line().
  explicit ChildProcess(const std::vector<std::string>& argv);
  // Output to the file `log`: read it with output() and wait_for().
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log);
  // Stops it if it still runs: SIGTERM first (a server or a cluster node then leaves cleanly),
  // SIGKILL after 3 s.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  bool running();
  // Pipe mode: the next line, or nullopt once the output has ended.
  std::optional<std::string> line();
  // File mode: everything written so far.
  std::string output() const;
  // File mode: true once the output holds `text` `count` times; false when `limit` passes first.
  bool wait_for(const std::string& text, std::chrono::milliseconds limit = std::chrono::seconds(60),
                size_t count = 1) const;
  // File mode: the first line holding `needle`, or "" when `limit` passes first.
  std::string wait_for_line(const std::string& needle, std::chrono::milliseconds limit) const;
  void signal(int sig) const;
  // SIGKILL and reap.
  void kill();
  // Blocks until it ends: the exit code, or 128 + the signal that ended it.
  int wait();
  // The exit code once it ends; -1 if it is still running after `limit` or died of a signal.
  int wait_exit(std::chrono::milliseconds limit = std::chrono::seconds(30));

 private:
  void spawn(const std::vector<std::string>& argv, int out_fd, const std::filesystem::path* log);
  void reaped(int wait_status);

  pid_t pid_ = -1;
  int fd_ = -1;  // read end of the pipe (pipe mode)
  int status_ = -1;
  std::string buf_;
  std::filesystem::path log_;
};

}  // namespace theater::test
