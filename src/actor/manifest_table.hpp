#pragma once
// One copy of each distinct manifest, shared by every actor made from it. A manifest with its
// paths is about a kilobyte: ten thousand actors of one kind should not hold ten thousand copies.
// Entries are never removed while the runtime lives, so a `const Manifest&` an actor handed out
// stays valid after an upgrade moves the actor to another manifest. The table grows with the
// number of distinct manifests (files, spawn texts, upgrades), not with the number of actors.
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "actor/manifest.hpp"

namespace theater {

class ManifestTable {
 public:
  // The table's manifest equal to `m` (m itself when it is already the table's).
  const Manifest* intern(const Manifest& m);
  // The manifest of text passed to spawn (relative paths resolve against `base_dir`), parsed
  // once per (text, folder): a spawner usually spawns the same few kinds of children many times.
  // Throws ManifestError; parse errors are not kept.
  const Manifest* parse(const std::string& text, const std::filesystem::path& base_dir);
  size_t size() const;

 private:
  const Manifest* intern_locked(const Manifest& m);

  mutable std::mutex mutex_;
  std::unordered_set<const Manifest*> owned_;
  std::unordered_multimap<std::string, std::unique_ptr<const Manifest>> by_key_;
  std::map<std::pair<std::string, std::string>, const Manifest*> spawn_texts_;  // (folder, text)
};

}  // namespace theater
