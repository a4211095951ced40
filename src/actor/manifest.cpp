// Manifest parsing (../shared/design/manifest.md), strict: every key is checked against the
// table below, so a typo is an error that names it (with a "did you mean" when one is close).
//
// Keys added beyond the design document:
//   [environment]            string values, the WASI environment of the actor
//   [chain] store_payloads   bool, default true: keep message bytes in the event chain
#include "actor/manifest.hpp"

#include <toml++/toml.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/files.hpp"

namespace theater {

namespace {

// The known keys of each table; "" is the top level.
const std::map<std::string, std::set<std::string>, std::less<>> kKnownKeys = {
    {"", {"name", "component", "version", "handlers", "init_state", "restart", "limits",
          "supervision", "children", "environment", "chain"}},
    {"limits", {"memory_mb", "handler_timeout_ms", "mailbox", "max_message_bytes", "max_state_bytes"}},
    {"supervision", {"strategy", "on_failure", "max_restarts", "within_ms"}},
    {"children", {"manifest", "init_state"}},
    {"chain", {"store_payloads"}},
};

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

class Parser {
 public:
  Parser(const std::filesystem::path& base_dir, std::string_view source)
      : base_dir_(base_dir), source_(source) {}

  [[noreturn]] void error(const std::string& what) const {
    throw ManifestError(fmt::format("{}: {}", source_, what));
  }

  void check_keys(const toml::table& table, const std::string& section) const {
    const auto& known = kKnownKeys.at(section);
    for (const auto& [key, value] : table) {
      const std::string k(key.str());
      if (known.count(k)) continue;
      std::string full = section.empty() ? k : section + "." + k;
      std::string hint;
      for (const auto& candidate : known) {
        if (edit_distance(k, candidate) <= 2) {
          hint = fmt::format(" (did you mean '{}'?)", candidate);
          break;
        }
      }
      error(fmt::format("unknown key '{}'{}", full, hint));
    }
  }

  std::string string_at(const toml::table& t, std::string_view key, const std::string& path,
                        bool required) const {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) error(fmt::format("missing required key '{}'", path));
      return {};
    }
    auto v = n->value<std::string>();
    if (!v || !n->is_string()) error(fmt::format("'{}' must be a string", path));
    return *v;
  }

  uint32_t uint_at(const toml::table& t, std::string_view key, const std::string& path, uint32_t def,
                   uint64_t min, uint64_t max) const {
    const toml::node* n = t.get(key);
    if (!n) return def;
    if (!n->is_integer()) error(fmt::format("'{}' must be an integer", path));
    const int64_t v = *n->value<int64_t>();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      error(fmt::format("'{}' must be between {} and {}, got {}", path, min, max, v));
    }
    return static_cast<uint32_t>(v);
  }

  template <typename E>
  E enum_at(const toml::table& t, std::string_view key, const std::string& path, E def,
            std::initializer_list<std::pair<const char*, E>> values) const {
    const std::string s = string_at(t, key, path, false);
    if (s.empty() && !t.get(key)) return def;
    std::string names;
    for (const auto& [name, value] : values) {
      if (s == name) return value;
      names += (names.empty() ? "" : ", ") + std::string(name);
    }
    error(fmt::format("'{}' must be one of {}, got '{}'", path, names, s));
  }

  std::filesystem::path resolve(const std::string& p) const {
    std::filesystem::path path(p);
    return path.is_absolute() ? path : (base_dir_ / path).lexically_normal();
  }

  Manifest parse(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, source_);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      error(fmt::format("TOML syntax error at line {}, column {}: {}", where.line, where.column,
                        e.description()));
    }
    check_keys(root, "");
    Manifest m;
    m.base_dir = base_dir_;
    m.source = source_;
    m.name = string_at(root, "name", "name", true);
    if (m.name.empty()) error("'name' must not be empty");
    m.component = string_at(root, "component", "component", true);
    if (m.component.empty()) error("'component' must not be empty");
    if (m.component.rfind("sha256:", 0) == 0) {
      const auto hex = m.component.substr(7);
      if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
        error(fmt::format("'component' = '{}' is not a valid sha256:<64 lowercase hex> reference", m.component));
      }
    } else {
      m.component_path = resolve(m.component);
    }
    m.version = string_at(root, "version", "version", false);
    parse_handlers(root, m);
    if (auto s = string_at(root, "init_state", "init_state", false); !s.empty()) m.init_state = resolve(s);
    m.restart = enum_at(root, "restart", "restart", RestartType::Permanent,
                        {{"permanent", RestartType::Permanent},
                         {"transient", RestartType::Transient},
                         {"temporary", RestartType::Temporary}});
    if (const toml::node* n = root.get("limits")) parse_limits(table_of(*n, "limits"), m.limits);
    if (const toml::node* n = root.get("supervision")) parse_supervision(table_of(*n, "supervision"), m.supervision);
    if (const toml::node* n = root.get("children")) parse_children(*n, m);
    if (const toml::node* n = root.get("environment")) {
      for (const auto& [k, v] : table_of(*n, "environment")) {
        auto s = v.value<std::string>();
        if (!s || !v.is_string()) error(fmt::format("'environment.{}' must be a string", k.str()));
        m.environment.emplace_back(std::string(k.str()), *s);
      }
    }
    if (const toml::node* n = root.get("chain")) {
      const auto& chain = table_of(*n, "chain");
      check_keys(chain, "chain");
      if (const toml::node* sp = chain.get("store_payloads")) {
        if (!sp->is_boolean()) error("'chain.store_payloads' must be true or false");
        m.store_payloads = *sp->value<bool>();
      }
    }
    return m;
  }

 private:
  const toml::table& table_of(const toml::node& n, const std::string& path) const {
    if (!n.is_table()) error(fmt::format("'{}' must be a table ([{}])", path, path));
    return *n.as_table();
  }

  void parse_handlers(const toml::table& root, Manifest& m) const {
    const toml::node* n = root.get("handlers");
    if (!n) return;
    if (!n->is_array()) error("'handlers' must be an array of strings");
    for (const auto& item : *n->as_array()) {
      auto h = item.value<std::string>();
      if (!h || !item.is_string()) error("'handlers' must be an array of strings");
      if (std::find(std::begin(kKnownHandlers), std::end(kKnownHandlers), *h) == std::end(kKnownHandlers)) {
        std::string known;
        for (auto k : kKnownHandlers) known += (known.empty() ? "" : ", ") + std::string(k);
        error(fmt::format("handlers: unknown handler '{}'; known: {}", *h, known));
      }
      if (std::find(m.handlers.begin(), m.handlers.end(), *h) != m.handlers.end()) {
        error(fmt::format("handlers: '{}' is listed twice", *h));
      }
      m.handlers.push_back(*h);
    }
  }

  void parse_limits(const toml::table& t, Limits& l) const {
    check_keys(t, "limits");
    l.memory_mb = uint_at(t, "memory_mb", "limits.memory_mb", l.memory_mb, 1, 4095);
    l.handler_timeout_ms = uint_at(t, "handler_timeout_ms", "limits.handler_timeout_ms", l.handler_timeout_ms, 1, 86400000);
    l.mailbox = uint_at(t, "mailbox", "limits.mailbox", l.mailbox, 1, 100000000);
    l.max_message_bytes = uint_at(t, "max_message_bytes", "limits.max_message_bytes", l.max_message_bytes, 1, 1u << 30);
    l.max_state_bytes = uint_at(t, "max_state_bytes", "limits.max_state_bytes", l.max_state_bytes, 1, 1u << 30);
  }

  void parse_supervision(const toml::table& t, SupervisionSpec& s) const {
    check_keys(t, "supervision");
    s.strategy = enum_at(t, "strategy", "supervision.strategy", s.strategy,
                         {{"one_for_one", Strategy::OneForOne},
                          {"one_for_all", Strategy::OneForAll},
                          {"rest_for_one", Strategy::RestForOne}});
    s.on_failure = enum_at(t, "on_failure", "supervision.on_failure", s.on_failure,
                           {{"restart", OnFailure::Restart},
                            {"stop", OnFailure::Stop},
                            {"escalate", OnFailure::Escalate},
                            {"custom", OnFailure::Custom}});
    s.max_restarts = uint_at(t, "max_restarts", "supervision.max_restarts", s.max_restarts, 0, 1000000);
    s.within_ms = uint_at(t, "within_ms", "supervision.within_ms", s.within_ms, 1, 86400000);
  }

  void parse_children(const toml::node& n, Manifest& m) const {
    if (!n.is_array_of_tables()) error("'children' must be an array of tables ([[children]])");
    size_t i = 0;
    for (const auto& item : *n.as_array()) {
      const auto& t = *item.as_table();
      const std::string path = fmt::format("children[{}]", i++);
      for (const auto& [key, value] : t) {
        const std::string k(key.str());
        if (!kKnownKeys.at("children").count(k)) error(fmt::format("unknown key '{}.{}'", path, k));
      }
      ChildSpec c;
      c.manifest = resolve(string_at(t, "manifest", path + ".manifest", true));
      if (auto s = string_at(t, "init_state", path + ".init_state", false); !s.empty()) c.init_state = resolve(s);
      m.children.push_back(std::move(c));
    }
  }

  std::filesystem::path base_dir_;
  std::string source_;
};

}  // namespace

const char* to_string(RestartType r) {
  switch (r) {
    case RestartType::Permanent: return "permanent";
    case RestartType::Transient: return "transient";
    case RestartType::Temporary: return "temporary";
  }
  return "?";
}

const char* to_string(Strategy s) {
  switch (s) {
    case Strategy::OneForOne: return "one_for_one";
    case Strategy::OneForAll: return "one_for_all";
    case Strategy::RestForOne: return "rest_for_one";
  }
  return "?";
}

const char* to_string(OnFailure o) {
  switch (o) {
    case OnFailure::Restart: return "restart";
    case OnFailure::Stop: return "stop";
    case OnFailure::Escalate: return "escalate";
    case OnFailure::Custom: return "custom";
  }
  return "?";
}

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
    throw ManifestError(e.what());
  }
  auto dir = file.parent_path();
  if (dir.empty()) dir = ".";
  return parse_manifest(text, std::filesystem::absolute(dir), file.string());
}

}  // namespace theater
