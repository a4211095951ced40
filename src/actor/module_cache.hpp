#pragma once
// Modules loaded from files, kept per path so that spawning the same component again costs no
// read, hash, validation or instrumentation. An entry is reused while the file keeps its size
// and modification time; the file is looked at (stat) at most every `recheck`, so a rebuilt or
// upgraded file is picked up within that time.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/engine.hpp"

namespace theater {

class ModuleFileCache {
 public:
  using Clock = std::chrono::steady_clock;
  // Reads, checks (against the grants too) and loads the file; throws what the load throws.
  using Loader = std::function<std::shared_ptr<engine::Module>(const std::filesystem::path&)>;
  // Checks the module against a manifest's grants (throws if refused).
  using Checker = std::function<void(const engine::ModuleInfo&)>;

  explicit ModuleFileCache(Clock::duration recheck = std::chrono::milliseconds(100)) : recheck_(recheck) {}

  // The module of `path`: cached, or loaded now. A cached module is checked against `grants`
  // (with `check`) once per distinct grants list: the result depends only on the two.
  std::shared_ptr<engine::Module> get(const std::filesystem::path& path,
                                      const std::vector<std::string>& grants, const Loader& load,
                                      const Checker& check);

  // The next get() of `path` reads the file again (an upgrade must not get a module cached
  // within the last recheck interval).
  void forget(const std::filesystem::path& path);
  void clear();

 private:
  struct Entry {
    std::shared_ptr<engine::Module> module;
    uintmax_t size = 0;
    int64_t mtime_ns = 0;
    Clock::time_point checked;
    std::vector<std::vector<std::string>> grants_ok;
  };

  Clock::duration recheck_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace theater
