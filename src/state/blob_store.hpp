#pragma once
// Content-addressed blobs ("sha256:<hex>"): the `store` handler's blobs and every module an actor
// ran (so a recovered, upgraded or replayed actor finds its code). In memory, or, with a folder
// (<data dir>/blobs), one file per blob named by its hex digest, written durably (fsync of the file
// and the folder before put returns) and atomically (readers never see a partial blob).
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>

namespace theater {

class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path dir = {});
  std::string put(std::string_view bytes);  // returns "sha256:<hex>"
  std::string put(std::span<const uint8_t> bytes) {
    return put(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  std::optional<std::string> get(const std::string& ref) const;

 private:
  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> memory_;
};

}  // namespace theater
