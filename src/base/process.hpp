#pragma once
// Runs a program (no shell) and waits for it, capturing what it prints.
#include <string>
#include <vector>

namespace theater {

struct ProcessResult {
  int exit_code = -1;  // -1 when it could not start or was killed by a signal
  std::string output;  // stdout and stderr together
};

ProcessResult run_process(const std::vector<std::string>& argv);
// The full path of a program found in PATH, or "" if there is none.
std::string find_program(const std::string& name);

}  // namespace theater
