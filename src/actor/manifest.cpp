// Manifest parsing (../shared/design/manifest.md). Strict, because a typo in a manifest must not
// pass silently: every key is checked against kKnownKeys below, and every error names the source
// and the key's full path:
//   worker.toml: unknown key 'limits.memroy_mb'; did you mean 'memory_mb'?
//
// Keys added beyond the design document:
//   [environment]            string values: the actor's WASI environment, NAME = "value"
//   [chain] store_payloads   bool, default true: keep message bytes in the event chain
//   [limits] hibernate_after_ms, shutdown_timeout_ms   (docs/abi-additions.md)
#include "actor/manifest.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <limits>
#include <map>
#include <sstream>

#include "base/files.hpp"

namespace theater {

namespace {

// Every key each table may hold, in the order of the design document. "" is the top level;
// "children" is one [[children]] entry. [environment] is not here: its keys are variable names.
const std::map<std::string_view, std::vector<std::string_view>> kKnownKeys = {
    {"",
     {"name", "component", "version", "handlers", "init_state", "restart", "limits", "supervision",
      "children", "environment", "chain"}},
    {"limits",
     {"memory_mb", "handler_timeout_ms", "mailbox", "max_message_bytes", "max_state_bytes",
      "hibernate_after_ms", "shutdown_timeout_ms"}},
    {"supervision", {"strategy", "on_failure", "max_restarts", "within_ms"}},
    {"children", {"manifest", "init_state"}},
    {"chain", {"store_payloads"}},
};

// The unknown key is reported with the closest known one when it is this close: near enough to
// be a typo, far enough that an unrelated key gets no misleading hint.
constexpr size_t kMaxHintDistance = 2;

constexpr std::string_view kSha256Prefix = "sha256:";

// Signed, like TOML integers, so a negative value is simply below the range.
struct Range {
  int64_t min;
  int64_t max;
};
constexpr int64_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr Range kPositive{1, kU32Max};
constexpr Range kNonNegative{0, kU32Max};
// 4096 MiB is 65536 wasm pages, all that a 32-bit linear memory can address.
constexpr Range kMemoryMb{1, 4096};

// One table per enum serves both parsing and to_string, so the two cannot disagree.
template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};
constexpr EnumName<RestartType> kRestartNames[] = {{RestartType::Permanent, "permanent"},
                                                   {RestartType::Transient, "transient"},
                                                   {RestartType::Temporary, "temporary"}};
constexpr EnumName<Strategy> kStrategyNames[] = {{Strategy::OneForOne, "one_for_one"},
                                                 {Strategy::OneForAll, "one_for_all"},
                                                 {Strategy::RestForOne, "rest_for_one"}};
constexpr EnumName<OnFailure> kOnFailureNames[] = {{OnFailure::Restart, "restart"},
                                                   {OnFailure::Stop, "stop"},
                                                   {OnFailure::Escalate, "escalate"},
                                                   {OnFailure::Custom, "custom"}};

template <typename E, size_t N>
const char* name_of(const EnumName<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name.data();  // the names are literals, so NUL-terminated
  }
  return "?";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitution});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// "; did you mean 'x'?" for the closest known key, or "" when none is close.
std::string did_you_mean(std::string_view key, const std::vector<std::string_view>& known) {
  std::string_view best;
  size_t best_distance = kMaxHintDistance + 1;
  for (auto candidate : known) {
    const size_t d = edit_distance(key, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best.empty() ? "" : fmt::format("; did you mean '{}'?", best);
}

std::string join_key(std::string_view table_path, std::string_view key) {
  return table_path.empty() ? std::string(key) : fmt::format("{}.{}", table_path, key);
}

std::string type_of(const toml::node& n) {
  std::ostringstream out;
  out << n.type();  // toml++ prints its friendly name: "string", "integer", "table", ...
  return out.str();
}

bool is_sha256_hex(std::string_view hex) {
  return hex.size() == 64 && hex.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Reads one manifest. Every accessor takes the table, that table's path ("" for the top level,
// "limits", "children[1]") and the key, so its errors can name the key in full.
class Parser {
 public:
  Parser(const std::filesystem::path& base_dir, std::string_view source)
      : base_dir_(base_dir), source_(source) {}

  Manifest parse(std::string_view text) const {
    const toml::table root = parse_toml(text);
    check_keys(root, "", "");
    Manifest m;
    m.base_dir = base_dir_;
    m.source = source_;
    m.name = required_string(root, "", "name");
    parse_component(root, m);
    m.version = optional_string(root, "", "version").value_or("");
    m.handlers = parse_handlers(root);
    m.init_state = optional_path(root, "", "init_state");
    m.restart = enum_at(root, "", "restart", kRestartNames, m.restart);
    if (const auto* t = table_at(root, "limits")) m.limits = parse_limits(*t);
    if (const auto* t = table_at(root, "supervision")) m.supervision = parse_supervision(*t);
    m.children = parse_children(root);
    if (const auto* t = table_at(root, "environment")) m.environment = parse_environment(*t);
    if (const auto* t = table_at(root, "chain")) m.store_payloads = parse_chain(*t);
    return m;
  }

 private:
  [[noreturn]] void fail(std::string_view what) const {
    throw ManifestError(fmt::format("{}: {}", source_, what));
  }

  toml::table parse_toml(std::string_view text) const {
    try {
      return toml::parse(text, source_);
    } catch (const toml::parse_error& e) {
      // "file:line:column: ..." like a compiler, so editors and terminals can jump to it.
      const auto& where = e.source().begin;
      throw ManifestError(fmt::format("{}:{}:{}: TOML syntax error: {}", source_, where.line,
                                      where.column, e.description()));
    }
  }

  // `section` picks the known keys; `table_path` is how the table is named in errors.
  void check_keys(const toml::table& t, std::string_view section,
                  std::string_view table_path) const {
    const auto& known = kKnownKeys.at(section);
    for (const auto& [key, value] : t) {
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      fail(fmt::format("unknown key '{}'{}", join_key(table_path, key.str()),
                       did_you_mean(key.str(), known)));
    }
  }

  // A top-level table, or nullptr when it is absent.
  const toml::table* table_at(const toml::table& root, std::string_view key) const {
    const toml::node* n = root.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) {
      fail(fmt::format("{} must be a table ([{}]), got {}", key, key, type_of(*n)));
    }
    return n->as_table();
  }

  std::optional<std::string> optional_string(const toml::table& t, std::string_view table_path,
                                             std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) {
      fail(fmt::format("{} must be a string, got {}", join_key(table_path, key), type_of(*n)));
    }
    return n->as_string()->get();
  }

  std::string required_string(const toml::table& t, std::string_view table_path,
                              std::string_view key) const {
    auto s = optional_string(t, table_path, key);
    if (!s) fail(fmt::format("missing required key '{}'", join_key(table_path, key)));
    if (s->empty()) fail(fmt::format("{} must not be empty", join_key(table_path, key)));
    return *s;
  }

  // Paths are resolved here, but whether the file exists is for the runtime to find out when it
  // reads it: a manifest may be parsed before its files are in place.
  std::filesystem::path resolve(std::string_view p) const {
    const std::filesystem::path path(p);
    return (path.is_absolute() ? path : base_dir_ / path).lexically_normal();
  }

  std::optional<std::filesystem::path> optional_path(const toml::table& t,
                                                     std::string_view table_path,
                                                     std::string_view key) const {
    if (!t.contains(key)) return std::nullopt;
    return resolve(required_string(t, table_path, key));
  }

  uint32_t uint_at(const toml::table& t, std::string_view table_path, std::string_view key,
                   Range range, uint32_t fallback) const {
    const toml::node* n = t.get(key);
    if (!n) return fallback;
    const std::string full = join_key(table_path, key);
    if (!n->is_integer()) {
      fail(fmt::format("{} must be a {} integer, got {}", full,
                       range.min == 0 ? "non-negative" : "positive", type_of(*n)));
    }
    const int64_t v = n->as_integer()->get();
    if (v < range.min || v > range.max) {
      fail(fmt::format("{} must be between {} and {}, got {}", full, range.min, range.max, v));
    }
    return static_cast<uint32_t>(v);
  }

  template <typename E, size_t N>
  E enum_at(const toml::table& t, std::string_view table_path, std::string_view key,
            const EnumName<E> (&names)[N], E fallback) const {
    const auto s = optional_string(t, table_path, key);
    if (!s) return fallback;
    for (const auto& n : names) {
      if (n.name == *s) return n.value;
    }
    std::vector<std::string_view> valid;
    for (const auto& n : names) valid.push_back(n.name);
    fail(fmt::format("{} must be one of {}, got '{}'", join_key(table_path, key),
                     fmt::join(valid, ", "), *s));
  }

  void parse_component(const toml::table& root, Manifest& m) const {
    m.component = required_string(root, "", "component");
    if (!m.component.starts_with(kSha256Prefix)) {
      m.component_path = resolve(m.component);
      return;
    }
    // A module in the store, which names modules by the lowercase hex of their SHA-256.
    if (!is_sha256_hex(std::string_view(m.component).substr(kSha256Prefix.size()))) {
      fail(fmt::format("component '{}': a sha256: reference needs 64 lowercase hex digits",
                       m.component));
    }
  }

  std::vector<std::string> parse_handlers(const toml::table& root) const {
    const toml::node* n = root.get("handlers");
    if (!n) return {};
    if (!n->is_array()) {
      fail(fmt::format("handlers must be an array of strings, got {}", type_of(*n)));
    }
    std::vector<std::string> handlers;
    for (const auto& item : *n->as_array()) {
      if (!item.is_string()) {
        fail(fmt::format("handlers must be an array of strings, got an element of type {}",
                         type_of(item)));
      }
      const std::string& h = item.as_string()->get();
      if (std::find(std::begin(kKnownHandlers), std::end(kKnownHandlers), h) ==
          std::end(kKnownHandlers)) {
        fail(fmt::format("handlers: unknown handler '{}'; known: {}", h,
                         fmt::join(kKnownHandlers, ", ")));
      }
      if (std::find(handlers.begin(), handlers.end(), h) != handlers.end()) {
        fail(fmt::format("handlers: '{}' is listed twice", h));
      }
      handlers.push_back(h);
    }
    return handlers;
  }

  Limits parse_limits(const toml::table& t) const {
    check_keys(t, "limits", "limits");
    Limits l;
    l.memory_mb = uint_at(t, "limits", "memory_mb", kMemoryMb, l.memory_mb);
    l.handler_timeout_ms =
        uint_at(t, "limits", "handler_timeout_ms", kPositive, l.handler_timeout_ms);
    l.mailbox = uint_at(t, "limits", "mailbox", kPositive, l.mailbox);
    l.max_message_bytes = uint_at(t, "limits", "max_message_bytes", kPositive, l.max_message_bytes);
    l.max_state_bytes = uint_at(t, "limits", "max_state_bytes", kPositive, l.max_state_bytes);
    l.shutdown_timeout_ms = uint_at(t, "limits", "shutdown_timeout_ms", kPositive, l.shutdown_timeout_ms);
    if (t.contains("hibernate_after_ms")) {
      l.hibernate_after_ms = uint_at(t, "limits", "hibernate_after_ms", kNonNegative, 0);
    }
    return l;
  }

  SupervisionSpec parse_supervision(const toml::table& t) const {
    check_keys(t, "supervision", "supervision");
    SupervisionSpec s;
    s.strategy = enum_at(t, "supervision", "strategy", kStrategyNames, s.strategy);
    s.on_failure = enum_at(t, "supervision", "on_failure", kOnFailureNames, s.on_failure);
    // 0 is meaningful: the first failure already exceeds the intensity and escalates.
    s.max_restarts = uint_at(t, "supervision", "max_restarts", kNonNegative, s.max_restarts);
    s.within_ms = uint_at(t, "supervision", "within_ms", kPositive, s.within_ms);
    return s;
  }

  std::vector<ChildSpec> parse_children(const toml::table& root) const {
    const toml::node* n = root.get("children");
    if (!n) return {};
    const toml::array* entries = n->as_array();
    // An empty array is not "homogeneous", but it is a valid empty list of children.
    if (!entries || (!entries->empty() && !entries->is_array_of_tables())) {
      fail(fmt::format("children must be an array of tables ([[children]]), got {}", type_of(*n)));
    }
    std::vector<ChildSpec> children;
    for (size_t i = 0; i < entries->size(); ++i) {
      const toml::table& entry = *entries->get(i)->as_table();
      const std::string path = fmt::format("children[{}]", i);
      check_keys(entry, "children", path);
      children.push_back({resolve(required_string(entry, path, "manifest")),
                          optional_path(entry, path, "init_state")});
    }
    return children;
  }

  // Each entry becomes a "NAME=value\0" string in the actor's WASI environ, so a name may not be
  // empty or hold '=', and neither part may hold a NUL. (A name with a NUL is not quoted in the
  // error: what() is a C string, and would end there.)
  std::vector<std::pair<std::string, std::string>> parse_environment(const toml::table& t) const {
    std::vector<std::pair<std::string, std::string>> env;
    for (const auto& [key, value] : t) {
      const std::string name(key.str());
      if (name.find('\0') != std::string::npos) {
        fail("environment: a variable name must not contain a NUL character");
      }
      if (name.empty() || name.find('=') != std::string::npos) {
        fail(fmt::format("environment: invalid variable name '{}' (empty, or holds '=')", name));
      }
      const std::string v = *optional_string(t, "environment", name);
      if (v.find('\0') != std::string::npos) {
        fail(fmt::format("environment.{} must not contain a NUL character", name));
      }
      env.emplace_back(name, v);
    }
    return env;
  }

  bool parse_chain(const toml::table& t) const {
    check_keys(t, "chain", "chain");
    const toml::node* n = t.get("store_payloads");
    if (!n) return true;
    if (!n->is_boolean()) {
      fail(fmt::format("chain.store_payloads must be true or false, got {}", type_of(*n)));
    }
    return n->as_boolean()->get();
  }

  std::filesystem::path base_dir_;
  std::string source_;
};

}  // namespace

const char* to_string(RestartType r) { return name_of(kRestartNames, r); }
const char* to_string(Strategy s) { return name_of(kStrategyNames, s); }
const char* to_string(OnFailure o) { return name_of(kOnFailureNames, o); }

bool Manifest::grants(std::string_view handler) const {
  return std::find(handlers.begin(), handlers.end(), handler) != handlers.end();
}

Manifest parse_manifest(std::string_view toml_text, const std::filesystem::path& base_dir,
                        std::string_view source) {
  return Parser(base_dir, source).parse(toml_text);
}

Manifest load_manifest(const std::filesystem::path& file) {
  std::string text;
  try {
    text = read_file_text(file);
  } catch (const FileError& e) {
    throw ManifestError(e.what());  // already "<path>: cannot open: <reason>"
  }
  // Absolute, so paths in the manifest still resolve after the working directory changes.
  const auto base_dir = std::filesystem::absolute(file).lexically_normal().parent_path();
  return parse_manifest(text, base_dir, file.string());
}

}  // namespace theater
