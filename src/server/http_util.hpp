#pragma once
// What every API handler shares: errors that become a JSON answer with a status, strict parsing
// of JSON request bodies (only the named fields, each of its type), and bytes in JSON (UTF-8
// text as it is, anything else as base64 with an "encoding" beside it).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace theater::server {

// Thrown by handlers; answered as {"error": {"code": code, "message": message}} with `status`.
struct ApiError : std::runtime_error {
  ApiError(int status_, std::string code_, const std::string& message)
      : std::runtime_error(message), status(status_), code(std::move(code_)) {}
  int status;
  std::string code;
};

nlohmann::json error_json(std::string_view code, std::string_view message);
// Serialises without ever throwing: bytes that are not UTF-8 become U+FFFD.
std::string json_text(const nlohmann::json& j, int indent = -1);

// The HTTP status for an ABI error code (abi::Rc), and a sentence saying what it means.
int status_for_rc(int32_t rc);
std::string explain_rc(int32_t rc);

enum class FieldType { String, Integer, Boolean };
struct Field {
  std::string_view name;
  FieldType type;
  bool required = false;
};

// A request body that must be a JSON object with only `fields` (an empty body is {}).
// Throws ApiError(400) naming the problem: not JSON (and where), not an object, an unknown
// field (and which are known), a wrong type, a missing field.
class JsonBody {
 public:
  JsonBody(std::string_view text, std::initializer_list<Field> fields);
  std::optional<std::string> str(std::string_view name) const;
  std::optional<int64_t> integer(std::string_view name) const;
  std::optional<bool> boolean(std::string_view name) const;
  // A bytes field and its companion "<name>_encoding"-style field: utf8 (default) or base64.
  std::optional<std::string> bytes(std::string_view name, std::string_view encoding_field) const;

 private:
  nlohmann::json j_;
};

// Bytes as JSON fields: {<name>: text, <name>_encoding: "utf8" | "base64"}.
void put_bytes(nlohmann::json& out, std::string_view name, std::string_view bytes);

}  // namespace theater::server
