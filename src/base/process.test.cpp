#include "base/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace theater {
namespace {

TEST(RunProcess, CapturesOutputAndExitCode) {
  auto r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.output, "out\nerr\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(run_process({"no-such-program-here"}).exit_code, -1);
}

// Dead: gone, or a zombie no one has reaped yet.
bool dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

// A program past its timeout is killed, and so is what it started (as a compiler driver starts
// cc1): the shell prints the pid of a sleep it left running, then waits.
TEST(RunProcess, KillsAProgramPastItsTimeoutWithWhatItStarted) {
  auto r = run_process({"sh", "-c", "sleep 60 & echo $!; wait"}, std::chrono::milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  const pid_t sleeper = static_cast<pid_t>(std::stol(r.output));
  for (int i = 0; i < 500 && !dead(sleeper); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(dead(sleeper)) << "the sleep the shell started lives on";
}

}  // namespace
}  // namespace theater
