#include "actor/module_cache.hpp"

#include <sys/stat.h>

#include <algorithm>

namespace theater {

namespace {

// Size and modification time, or false if the file cannot be looked at.
bool stat_file(const std::filesystem::path& path, uintmax_t* size, int64_t* mtime_ns) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *size = static_cast<uintmax_t>(st.st_size);
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return true;
}

}  // namespace

std::shared_ptr<engine::Module> ModuleFileCache::get(const std::filesystem::path& path,
                                                     const std::vector<std::string>& grants,
                                                     const Loader& load, const Checker& check) {
  const std::string key = path.native();
  std::shared_ptr<engine::Module> module;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      Entry& e = it->second;
      const auto now = Clock::now();
      bool fresh = now - e.checked < recheck_;
      if (!fresh) {
        uintmax_t size = 0;
        int64_t mtime = 0;
        fresh = stat_file(path, &size, &mtime) && size == e.size && mtime == e.mtime_ns;
        if (fresh) e.checked = now;
      }
      if (fresh) {
        if (std::find(e.grants_ok.begin(), e.grants_ok.end(), grants) != e.grants_ok.end()) return e.module;
        module = e.module;
      } else {
        entries_.erase(it);
      }
    }
  }
  Entry fresh;
  if (!module) {  // a miss: the loader checks the grants itself
    // Looked at before reading: a change made while loading is seen at the next recheck.
    const bool stated = stat_file(path, &fresh.size, &fresh.mtime_ns);
    fresh.checked = Clock::now();
    module = load(path);
    if (!stated) return module;  // (the loader read it, so this is rare: not cached)
    fresh.module = module;
  } else {
    check(module->info());
  }
  std::lock_guard lock(mutex_);
  Entry& entry = entries_.try_emplace(key, std::move(fresh)).first->second;
  if (entry.module == module) entry.grants_ok.push_back(grants);
  return module;
}

void ModuleFileCache::forget(const std::filesystem::path& path) {
  std::lock_guard lock(mutex_);
  entries_.erase(path.native());
}

void ModuleFileCache::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

}  // namespace theater
