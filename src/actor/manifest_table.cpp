#include "actor/manifest_table.hpp"

namespace theater {

const Manifest* ManifestTable::intern(const Manifest& m) {
  std::lock_guard lock(mutex_);
  return intern_locked(m);
}

const Manifest* ManifestTable::intern_locked(const Manifest& m) {
  if (owned_.count(&m)) return &m;
  std::string key = m.source + '\n' + m.name + '\n' + m.component;
  auto [first, last] = by_key_.equal_range(key);
  for (auto it = first; it != last; ++it) {
    if (*it->second == m) return it->second.get();
  }
  auto copy = std::make_unique<const Manifest>(m);
  const Manifest* p = copy.get();
  by_key_.emplace(std::move(key), std::move(copy));
  owned_.insert(p);
  return p;
}

const Manifest* ManifestTable::parse(const std::string& text, const std::filesystem::path& base_dir) {
  auto key = std::make_pair(base_dir.native(), text);
  {
    std::lock_guard lock(mutex_);
    if (auto it = spawn_texts_.find(key); it != spawn_texts_.end()) return it->second;
  }
  Manifest parsed = parse_manifest(text, base_dir, "<spawn>");  // outside the lock: it may throw
  std::lock_guard lock(mutex_);
  // A bound on the texts remembered (their manifests stay in the table).
  if (spawn_texts_.size() >= 1024) spawn_texts_.clear();
  const Manifest* m = intern_locked(parsed);
  spawn_texts_.emplace(std::move(key), m);
  return m;
}

size_t ManifestTable::size() const {
  std::lock_guard lock(mutex_);
  return owned_.size();
}

}  // namespace theater
