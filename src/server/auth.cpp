#include "server/auth.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "base/files.hpp"

namespace theater::server {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::optional<std::string> read_token(const std::filesystem::path& data_dir) {
  const auto file = data_dir / kTokenFile;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  auto token = trim(read_file_text(file));
  if (token.empty()) throw std::runtime_error(fmt::format("{} is empty: delete it and start the server again", file.string()));
  return token;
}

std::string load_or_create_token(const std::filesystem::path& data_dir) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(data_dir, ec);
  std::filesystem::create_directories(data_dir, ec);
  if (!ec && !existed) std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create data directory {}: {}", data_dir.string(), ec.message()));
  if (auto token = read_token(data_dir)) return *token;
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("cannot generate a token: no random bytes");
  std::string token;
  for (unsigned char b : raw) token += fmt::format("{:02x}", b);
  const auto file = data_dir / kTokenFile;
  // O_EXCL: two servers starting at once do not overwrite each other's token.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return *read_token(data_dir);
    throw std::runtime_error(fmt::format("cannot create {}: {}", file.string(), std::strerror(errno)));
  }
  const std::string line = token + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::fchmod(fd, 0600);
  ::close(fd);
  if (!ok) throw std::runtime_error(fmt::format("cannot write {}", file.string()));
  return token;
}

bool same_token(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size() || expected.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ expected[i]);
  return diff == 0;
}

std::string_view bearer_token(std::string_view h) {
  constexpr std::string_view kPrefix = "Bearer ";
  if (h.size() <= kPrefix.size() || h.substr(0, kPrefix.size()) != kPrefix) return {};
  h.remove_prefix(kPrefix.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  return h;
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const size_t semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    const size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return part.substr(eq + 1);
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return {};
}

}  // namespace theater::server
