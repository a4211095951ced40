#pragma once
// A runtime per test, on the tier under test, plus helpers to load the example manifests from
// the build folder and to read what happened (events).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"

namespace theater::test {

inline std::filesystem::path examples_dir() { return THEATER_EXAMPLES_DIR; }

class RuntimeTest : public ::testing::TestWithParam<engine::Tier> {
 protected:
  void SetUp() override {
    RuntimeConfig config;
    config.engine.tier = GetParam();
    config.workers = 2;
    config.root_supervision.max_restarts = 100;  // tests that want intensity set it themselves
    make_runtime(config);
  }
  // The runtime goes first: it still reports events (stops) while it shuts down.
  void TearDown() override { runtime.reset(); }
  void make_runtime(RuntimeConfig config) {
    runtime.reset();
    runtime = std::make_unique<Runtime>(config);
    runtime->observe([this](const Event& e) {
      std::lock_guard lock(mutex);
      events.push_back(e);
    });
  }
  Manifest example(const std::string& name) { return load_manifest(examples_dir() / (name + ".toml")); }
  std::vector<Event> events_of(const std::string& id, const std::string& type = "") {
    std::lock_guard lock(mutex);
    std::vector<Event> out;
    for (const auto& e : events) {
      if (e.actor == id && (type.empty() || e.type == type)) out.push_back(e);
    }
    return out;
  }
  void settle() { ASSERT_TRUE(runtime->wait_idle(std::chrono::seconds(20))) << "runtime did not settle"; }

  std::mutex mutex;
  std::vector<Event> events;
  std::unique_ptr<Runtime> runtime;  // declared last: destroyed first
};

inline std::string tier_name(const ::testing::TestParamInfo<engine::Tier>& info) {
  return info.param == engine::Tier::Aot ? "Aot" : "Interp";
}

}  // namespace theater::test
