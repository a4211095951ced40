#pragma once
// SHA-256 (OpenSSL), as lowercase hex.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace theater {

std::string sha256_hex(std::span<const uint8_t> bytes);
inline std::string sha256_hex(std::string_view s) {
  return sha256_hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

}  // namespace theater
