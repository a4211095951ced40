#pragma once
// The server's bearer token: 32 random bytes as hex, made on the first start into
// <data>/token with mode 0600 (readable only by its owner), read again on later starts and by
// the CLI. Every request must carry it (Authorization: Bearer, or the dashboard's cookie).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace theater::server {

inline constexpr std::string_view kTokenFile = "token";
inline constexpr std::string_view kTokenCookie = "theater_token";

// Reads <data_dir>/token, creating the folder (0700) and the token (0600) if missing.
// Throws std::runtime_error naming the file when it cannot.
std::string load_or_create_token(const std::filesystem::path& data_dir);
// Reads an existing token; nullopt if there is none. Throws if it exists but cannot be read.
std::optional<std::string> read_token(const std::filesystem::path& data_dir);

// Compares in constant time (for equal lengths): a wrong token reveals nothing by its timing.
bool same_token(std::string_view given, std::string_view expected);
// "Bearer <token>" -> token; "" if the header is not of that form.
std::string_view bearer_token(std::string_view authorization_header);
// The value of cookie `name` in a Cookie header, or "".
std::string_view cookie_value(std::string_view cookie_header, std::string_view name);

}  // namespace theater::server
