#pragma once
// Bytes <-> text for JSON: base64 (OpenSSL) and a UTF-8 check, so that any bytes an actor holds
// (a reply, a state, a log line) can travel in a JSON string without corrupting it.
#include <optional>
#include <string>
#include <string_view>

namespace theater {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not valid base64 (whitespace is not allowed).
std::optional<std::string> base64_decode(std::string_view text);
bool is_valid_utf8(std::string_view bytes);

}  // namespace theater
