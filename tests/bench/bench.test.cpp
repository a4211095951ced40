// `theater bench` at a tiny scale: every workload runs, its own checks pass (every message
// counted, every reply in order), and the JSON lines have the shape bench/compare reads. No
// timing is asserted: only that the values are positive numbers in the right units.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/process.hpp"
#include "cli/bench_workloads.hpp"

namespace theater::test {
namespace {

bench::Options tiny() {
  bench::Options o;
  o.workers = 2;
  o.scale = 0.002;  // 200 ping-pong rounds, 2,000 counted messages, 20 idle actors ...
  o.stuck = std::chrono::seconds(60);
  return o;
}

TEST(Bench, WorkloadsHaveTheNamesAndUnitsOfTheOtherRunners) {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"ping-pong", "us/roundtrip"}, {"counting", "msg/s"},     {"thread-ring", "msg/s"},
      {"fork-join", "msg/s"},        {"big", "msg/s"},          {"spawn", "us/spawn"},
      {"memory", "bytes/actor"},     {"request", "us/request"}, {"memory-hibernated", "bytes/actor"}};
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& w : bench::workloads()) got.emplace_back(w.name, w.unit);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(bench::find_workload("nope"), nullptr);
}

class BenchWorkload : public ::testing::TestWithParam<std::string> {};

TEST_P(BenchWorkload, ChecksPassAndTheJsonLineHasTheShape) {
  const auto* w = bench::find_workload(GetParam());
  ASSERT_NE(w, nullptr);
  const auto options = tiny();
  const auto r = bench::run(*w, options);
  ASSERT_FALSE(r.error.has_value()) << *r.error;
  EXPECT_EQ(r.workload, GetParam());
  EXPECT_EQ(r.unit, w->unit);
  EXPECT_FALSE(r.params.empty());
  EXPECT_EQ(r.workers, 2u);

  const std::string line = bench::json_line(r, options);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(line);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("workload"), GetParam());
  EXPECT_EQ(j.at("unit"), std::string(w->unit));
  ASSERT_TRUE(j.at("value").is_number());
  if (!w->measures_memory) EXPECT_GT(j.at("value").get<double>(), 0);
  EXPECT_TRUE(j.at("params").is_object());
  EXPECT_EQ(j.at("engine"), "aot");
  // The first keys as the other runners print them.
  EXPECT_EQ(line.rfind("{\"workload\": \"" + GetParam() + "\", \"value\": ", 0), 0u) << line;
}

INSTANTIATE_TEST_SUITE_P(All, BenchWorkload,
                         ::testing::Values("ping-pong", "counting", "thread-ring", "fork-join", "big",
                                           "spawn", "memory", "request", "memory-hibernated"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Bench, WrongActorsFolderFailsTheWorkloadWithAMessage) {
  auto options = tiny();
  options.actors_dir = "/nonexistent/bench/actors";
  const auto r = bench::run(*bench::find_workload("ping-pong"), options);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_NE(r.error->find("sink.toml"), std::string::npos) << *r.error;
}

TEST(Bench, CommandPrintsOneJsonLinePerWorkloadAndRefusesUnknownOnes) {
  const std::string theater = std::string(THEATER_BUILD_DIR) + "/theater";
  auto r = run_process({theater, "bench", "ping-pong", "counting", "--json", "--scale", "0.001", "--workers", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> workloads;
  size_t start = 0;
  while (start < r.output.size()) {
    const size_t end = r.output.find('\n', start);
    const std::string line = r.output.substr(start, end - start);
    start = end == std::string::npos ? r.output.size() : end + 1;
    if (line.empty() || line[0] != '{') continue;  // stderr shares the output here
    workloads.push_back(nlohmann::json::parse(line).at("workload"));
  }
  EXPECT_EQ(workloads, (std::vector<std::string>{"ping-pong", "counting"}));
  EXPECT_EQ(run_process({theater, "bench", "no-such-workload"}).exit_code, 2);
}

}  // namespace
}  // namespace theater::test
