#include "server/http_util.hpp"

#include <fmt/format.h>

#include "abi/abi.hpp"
#include "base/text_codec.hpp"

namespace theater::server {

nlohmann::json error_json(std::string_view code, std::string_view message) {
  return {{"error", {{"code", code}, {"message", message}}}};
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

int status_for_rc(int32_t rc) {
  switch (rc) {
    case abi::kOk: return 200;
    case abi::kEINVAL: return 422;
    case abi::kENOTFOUND: return 404;
    case abi::kEDENIED: return 403;
    case abi::kETIMEOUT: return 504;
    case abi::kEFULL: return 429;
    case abi::kESTOPPED: return 409;
    case abi::kETOOBIG: return 413;
    case abi::kEFAILED: return 502;
    default: return 500;
  }
}

std::string explain_rc(int32_t rc) {
  switch (rc) {
    case abi::kEINVAL: return "the actor handled the request but did not reply";
    case abi::kENOTFOUND: return "gone, or it does not handle this kind of message (no such export)";
    case abi::kEDENIED: return "not allowed";
    case abi::kETIMEOUT: return "no reply before the timeout (raise timeout_ms, or look at the actor's events)";
    case abi::kEFULL: return "the actor's mailbox is full: retry later";
    case abi::kESTOPPED: return "the actor is stopped or stopping";
    case abi::kETOOBIG: return "the message is over the actor's max_message_bytes";
    case abi::kEFAILED: return "the actor failed while handling it (its supervisor decides what happens next; see its events)";
    default: return fmt::format("error {}", rc);
  }
}

namespace {

const char* type_name(FieldType t) {
  switch (t) {
    case FieldType::String: return "a string";
    case FieldType::Integer: return "an integer";
    case FieldType::Boolean: return "true or false";
  }
  return "?";
}

bool has_type(const nlohmann::json& v, FieldType t) {
  switch (t) {
    case FieldType::String: return v.is_string();
    case FieldType::Integer: return v.is_number_integer();
    case FieldType::Boolean: return v.is_boolean();
  }
  return false;
}

[[noreturn]] void bad(const std::string& message) { throw ApiError(400, "bad_request", message); }

}  // namespace

JsonBody::JsonBody(std::string_view text, std::initializer_list<Field> fields) {
  bool blank = true;
  for (char c : text) blank = blank && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
  if (blank) {
    j_ = nlohmann::json::object();
  } else {
    try {
      j_ = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      bad(fmt::format("the body is not valid JSON: {}", e.what()));
    }
  }
  if (!j_.is_object()) bad(fmt::format("the body must be a JSON object, not {}", j_.type_name()));
  std::string known;
  for (const auto& f : fields) known += fmt::format("{}{}", known.empty() ? "" : ", ", f.name);
  for (const auto& [key, value] : j_.items()) {
    const Field* spec = nullptr;
    for (const auto& f : fields) {
      if (f.name == key) spec = &f;
    }
    if (!spec) {
      bad(known.empty() ? fmt::format("unknown field '{}': this endpoint takes no body", key)
                        : fmt::format("unknown field '{}' (known fields: {})", key, known));
    }
    if (!has_type(value, spec->type)) {
      bad(fmt::format("field '{}' must be {}, not {}", key, type_name(spec->type), value.type_name()));
    }
  }
  for (const auto& f : fields) {
    if (f.required && !j_.contains(f.name)) bad(fmt::format("missing field '{}'", f.name));
  }
}

std::optional<std::string> JsonBody::str(std::string_view name) const {
  auto it = j_.find(name);
  if (it == j_.end()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> JsonBody::integer(std::string_view name) const {
  auto it = j_.find(name);
  if (it == j_.end()) return std::nullopt;
  return it->get<int64_t>();
}

std::optional<bool> JsonBody::boolean(std::string_view name) const {
  auto it = j_.find(name);
  if (it == j_.end()) return std::nullopt;
  return it->get<bool>();
}

std::optional<std::string> JsonBody::bytes(std::string_view name, std::string_view encoding_field) const {
  auto value = str(name);
  if (!value) return std::nullopt;
  const std::string encoding = str(encoding_field).value_or("utf8");
  if (encoding == "utf8") return value;
  if (encoding != "base64") bad(fmt::format("field '{}' must be \"utf8\" or \"base64\"", encoding_field));
  auto decoded = base64_decode(*value);
  if (!decoded) bad(fmt::format("field '{}' is not valid base64", name));
  return decoded;
}

void put_bytes(nlohmann::json& out, std::string_view name, std::string_view bytes) {
  const std::string key(name);
  if (is_valid_utf8(bytes)) {
    out[key] = std::string(bytes);
    out[key + "_encoding"] = "utf8";
  } else {
    out[key] = base64_encode(bytes);
    out[key + "_encoding"] = "base64";
  }
}

}  // namespace theater::server
