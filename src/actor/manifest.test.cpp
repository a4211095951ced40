#include "actor/manifest.hpp"

#include <gtest/gtest.h>

namespace theater {
namespace {

Manifest parse(std::string_view text) { return parse_manifest(text, "/base", "test.toml"); }

std::string error_of(std::string_view text) {
  try {
    parse(text);
  } catch (const ManifestError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ManifestError for:\n" << text;
  return "";
}

constexpr std::string_view kMinimal = "name = \"a\"\ncomponent = \"a.wasm\"\n";

TEST(Manifest, EveryKey) {
  auto m = parse(R"(
name = "counter"
component = "lib/counter.wasm"
version = "0.1.0"
handlers = ["message-server", "timing"]
init_state = "counter.json"
restart = "transient"
[limits]
memory_mb = 32
handler_timeout_ms = 100
mailbox = 5
max_message_bytes = 1000
max_state_bytes = 2000
[supervision]
strategy = "rest_for_one"
on_failure = "custom"
max_restarts = 7
within_ms = 1234
[[children]]
manifest = "worker.toml"
init_state = "worker-1.json"
[[children]]
manifest = "/abs/other.toml"
[environment]
GREETING = "hi"
[chain]
store_payloads = false
)");
  EXPECT_EQ(m.name, "counter");
  EXPECT_EQ(m.component_path, "/base/lib/counter.wasm");
  EXPECT_EQ(m.version, "0.1.0");
  EXPECT_EQ(m.handlers, (std::vector<std::string>{"message-server", "timing"}));
  EXPECT_TRUE(m.grants("timing"));
  EXPECT_FALSE(m.grants("store"));
  EXPECT_EQ(*m.init_state, "/base/counter.json");
  EXPECT_EQ(m.restart, RestartType::Transient);
  EXPECT_EQ(m.limits.memory_mb, 32u);
  EXPECT_EQ(m.limits.handler_timeout_ms, 100u);
  EXPECT_EQ(m.limits.mailbox, 5u);
  EXPECT_EQ(m.limits.max_message_bytes, 1000u);
  EXPECT_EQ(m.limits.max_state_bytes, 2000u);
  EXPECT_EQ(m.supervision.strategy, Strategy::RestForOne);
  EXPECT_EQ(m.supervision.on_failure, OnFailure::Custom);
  EXPECT_EQ(m.supervision.max_restarts, 7u);
  EXPECT_EQ(m.supervision.within_ms, 1234u);
  ASSERT_EQ(m.children.size(), 2u);
  EXPECT_EQ(m.children[0].manifest, "/base/worker.toml");
  EXPECT_EQ(*m.children[0].init_state, "/base/worker-1.json");
  EXPECT_EQ(m.children[1].manifest, "/abs/other.toml");
  EXPECT_FALSE(m.children[1].init_state);
  ASSERT_EQ(m.environment.size(), 1u);
  EXPECT_EQ(m.environment[0].second, "hi");
  EXPECT_FALSE(m.store_payloads);
}

TEST(Manifest, Defaults) {
  auto m = parse(kMinimal);
  EXPECT_TRUE(m.handlers.empty());
  EXPECT_EQ(m.restart, RestartType::Permanent);
  EXPECT_EQ(m.limits.memory_mb, 16u);
  EXPECT_EQ(m.limits.handler_timeout_ms, 5000u);
  EXPECT_EQ(m.limits.mailbox, 10000u);
  EXPECT_EQ(m.supervision.strategy, Strategy::OneForOne);
  EXPECT_EQ(m.supervision.on_failure, OnFailure::Restart);
  EXPECT_EQ(m.supervision.max_restarts, 3u);
  EXPECT_EQ(m.supervision.within_ms, 5000u);
  EXPECT_TRUE(m.store_payloads);
}

TEST(Manifest, ErrorsNameTheFileAndTheKey) {
  auto has = [](const std::string& s, std::string_view needle) {
    EXPECT_NE(s.find(needle), std::string::npos) << "'" << needle << "' not in: " << s;
    EXPECT_EQ(s.rfind("test.toml:", 0), 0u) << s;
  };
  has(error_of("component = \"a.wasm\""), "missing required key 'name'");
  has(error_of("name = \"a\""), "missing required key 'component'");
  has(error_of("name = \"\"\ncomponent = \"a.wasm\""), "'name' must not be empty");
  has(error_of("name = 3\ncomponent = \"a.wasm\""), "'name' must be a string");
  has(error_of(std::string(kMinimal) + "colour = \"red\""), "unknown key 'colour'");
  has(error_of(std::string(kMinimal) + "[limits]\nmemroy_mb = 3"), "unknown key 'limits.memroy_mb' (did you mean 'memory_mb'?)");
  has(error_of(std::string(kMinimal) + "[limits]\nmailbox = 0"), "'limits.mailbox' must be between 1 and");
  has(error_of(std::string(kMinimal) + "[limits]\nmailbox = -4"), "'limits.mailbox' must be between");
  has(error_of(std::string(kMinimal) + "[limits]\nmailbox = \"many\""), "'limits.mailbox' must be an integer");
  has(error_of(std::string(kMinimal) + "restart = \"permanant\""),
      "'restart' must be one of permanent, transient, temporary, got 'permanant'");
  has(error_of(std::string(kMinimal) + "handlers = [\"timer\"]"), "unknown handler 'timer'; known: message-server");
  has(error_of(std::string(kMinimal) + "handlers = [\"timing\", \"timing\"]"), "'timing' is listed twice");
  has(error_of(std::string(kMinimal) + "[supervision]\nstrategy = \"one_for_some\""), "'supervision.strategy' must be one of");
  has(error_of(std::string(kMinimal) + "[supervision]\non_failure = \"panic\""), "'supervision.on_failure' must be one of");
  has(error_of(std::string(kMinimal) + "[[children]]\ninit_state = \"x\""), "missing required key 'children[0].manifest'");
  has(error_of(std::string(kMinimal) + "[[children]]\nmanifest = \"w.toml\"\nwho = 1"), "unknown key 'children[0].who'");
  has(error_of(std::string(kMinimal) + "[chain]\nstore_payloads = \"no\""), "'chain.store_payloads' must be true or false");
  has(error_of("name = \"a\"\ncomponent = \"sha256:abc\""), "not a valid sha256");
  has(error_of("name = \"a\"\ncomponent = \"a.wasm\"\nname = \"b\""), "TOML syntax error at line 3");
}

TEST(Manifest, Sha256ComponentIsAReference) {
  auto m = parse("name = \"a\"\ncomponent = \"sha256:" + std::string(64, 'a') + "\"");
  EXPECT_TRUE(m.component_path.empty());
  EXPECT_EQ(m.component, "sha256:" + std::string(64, 'a'));
}

TEST(Manifest, LoadNamesAMissingFile) {
  try {
    load_manifest("/nonexistent/x.toml");
    FAIL();
  } catch (const ManifestError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.toml"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace theater
