#pragma once
// Content-addressed blobs ("sha256:<hex>"): in memory, and under a folder when one is given.
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace theater {

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path dir = {});
  std::string put(const std::string& bytes);  // returns "sha256:<hex>"
  std::optional<std::string> get(const std::string& ref) const;

 private:
  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> memory_;
};

}  // namespace theater
