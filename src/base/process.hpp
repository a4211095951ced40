#pragma once
// Runs a program (no shell) and waits for it, capturing what it prints.
#include <chrono>
#include <string>
#include <vector>

namespace theater {

struct ProcessResult {
  int exit_code = -1;  // -1 when it could not start or was killed by a signal
  std::string output;  // stdout and stderr together
  bool timed_out = false;
};

// With a timeout (0: none), a program still running after that long is killed with the
// processes it started (it runs in a process group of its own: a compiler driver's cc1 too).
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = {});
// The full path of a program found in PATH, or "" if there is none.
std::string find_program(const std::string& name);

}  // namespace theater
