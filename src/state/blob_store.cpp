#include "state/blob_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/files.hpp"
#include "base/sha256.hpp"

namespace theater {

namespace {

void sync_path(const std::filesystem::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw FileError(path.string() + ": cannot open to sync: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw FileError(path.string() + ": fsync failed: " + std::strerror(errno));
}

}  // namespace

BlobStore::BlobStore(std::filesystem::path dir) : dir_(std::move(dir)) {
  if (!dir_.empty()) std::filesystem::create_directories(dir_);
}

std::string BlobStore::put(std::string_view bytes) {
  std::string ref = "sha256:" + sha256_hex(bytes);
  std::lock_guard lock(mutex_);
  if (!dir_.empty()) {
    auto path = dir_ / ref.substr(7);
    if (!std::filesystem::exists(path)) {
      write_file_atomic(path, bytes);
      // Durable before anything that names it (an actor's row) can be.
      sync_path(path, O_RDONLY);
      sync_path(dir_, O_RDONLY | O_DIRECTORY);
    }
  } else {
    memory_.emplace(ref, bytes);
  }
  return ref;
}

std::optional<std::string> BlobStore::get(const std::string& ref) const {
  if (ref.size() != 71 || ref.rfind("sha256:", 0) != 0) return std::nullopt;
  const auto hex = ref.substr(7);
  if (hex.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (!dir_.empty()) {
    auto path = dir_ / hex;
    if (!std::filesystem::exists(path)) return std::nullopt;
    return read_file_text(path);
  }
  auto it = memory_.find(ref);
  if (it == memory_.end()) return std::nullopt;
  return it->second;
}

}  // namespace theater
