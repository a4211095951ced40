#include "actor/manifest.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <string>

namespace theater {
namespace {

namespace fs = std::filesystem;

Manifest parse(std::string_view text) { return parse_manifest(text, "/base/dir", "test.toml"); }

std::string error_of(std::string_view text, std::string_view source = "test.toml") {
  try {
    parse_manifest(text, "/base/dir", source);
  } catch (const ManifestError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ManifestError for:\n" << text;
  return "";
}

constexpr std::string_view kMinimal = "name = \"a\"\ncomponent = \"a.wasm\"\n";

std::string with_minimal(std::string_view rest) {
  return std::string(kMinimal) + std::string(rest);
}

// The error for `text` is exactly "test.toml: " + `message`. A macro, so that a failure points at
// the line of the case that failed.
#define EXPECT_MANIFEST_ERROR(text, message) \
  EXPECT_EQ(error_of(text), std::string("test.toml: ") + (message))

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
hibernate_after_ms = 60000
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
MODE = "test"
[chain]
store_payloads = false
)");
  EXPECT_EQ(m.name, "counter");
  EXPECT_EQ(m.component, "lib/counter.wasm");
  EXPECT_EQ(m.component_path, "/base/dir/lib/counter.wasm");
  EXPECT_EQ(m.version, "0.1.0");
  EXPECT_EQ(m.handlers, (std::vector<std::string>{"message-server", "timing"}));
  EXPECT_TRUE(m.grants("timing"));
  EXPECT_TRUE(m.grants("message-server"));
  EXPECT_FALSE(m.grants("store"));
  EXPECT_EQ(m.init_state, fs::path("/base/dir/counter.json"));
  EXPECT_EQ(m.restart, RestartType::Transient);
  EXPECT_EQ(m.limits.memory_mb, 32u);
  EXPECT_EQ(m.limits.handler_timeout_ms, 100u);
  EXPECT_EQ(m.limits.mailbox, 5u);
  EXPECT_EQ(m.limits.max_message_bytes, 1000u);
  EXPECT_EQ(m.limits.max_state_bytes, 2000u);
  EXPECT_EQ(m.limits.hibernate_after_ms, 60000u);
  EXPECT_EQ(m.supervision.strategy, Strategy::RestForOne);
  EXPECT_EQ(m.supervision.on_failure, OnFailure::Custom);
  EXPECT_EQ(m.supervision.max_restarts, 7u);
  EXPECT_EQ(m.supervision.within_ms, 1234u);
  ASSERT_EQ(m.children.size(), 2u);
  EXPECT_EQ(m.children[0].manifest, "/base/dir/worker.toml");
  EXPECT_EQ(m.children[0].init_state, fs::path("/base/dir/worker-1.json"));
  EXPECT_EQ(m.children[1].manifest, "/abs/other.toml");
  EXPECT_FALSE(m.children[1].init_state);
  using Env = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(m.environment, (Env{{"GREETING", "hi"}, {"MODE", "test"}}));
  EXPECT_FALSE(m.store_payloads);
  EXPECT_EQ(m.base_dir, "/base/dir");
  EXPECT_EQ(m.source, "test.toml");
}

TEST(Manifest, Defaults) {
  auto m = parse(kMinimal);
  EXPECT_EQ(m.name, "a");
  EXPECT_EQ(m.component_path, "/base/dir/a.wasm");
  EXPECT_EQ(m.version, "");
  EXPECT_TRUE(m.handlers.empty());
  EXPECT_FALSE(m.grants("message-server"));
  EXPECT_FALSE(m.init_state);
  EXPECT_EQ(m.restart, RestartType::Permanent);
  EXPECT_EQ(m.limits.memory_mb, 16u);
  EXPECT_EQ(m.limits.handler_timeout_ms, 5000u);
  EXPECT_EQ(m.limits.mailbox, 10000u);
  EXPECT_EQ(m.limits.max_message_bytes, 1048576u);
  EXPECT_EQ(m.limits.max_state_bytes, 16777216u);
  EXPECT_FALSE(m.limits.hibernate_after_ms);  // the runtime's default applies
  EXPECT_EQ(m.supervision.strategy, Strategy::OneForOne);
  EXPECT_EQ(m.supervision.on_failure, OnFailure::Restart);
  EXPECT_EQ(m.supervision.max_restarts, 3u);
  EXPECT_EQ(m.supervision.within_ms, 5000u);
  EXPECT_TRUE(m.children.empty());
  EXPECT_TRUE(m.environment.empty());
  EXPECT_TRUE(m.store_payloads);
}

TEST(Manifest, PartialTablesKeepTheOtherDefaults) {
  auto m = parse(with_minimal("[limits]\nmailbox = 7\n[supervision]\nwithin_ms = 9\n[chain]\n"));
  EXPECT_EQ(m.limits.mailbox, 7u);
  EXPECT_EQ(m.limits.memory_mb, 16u);
  EXPECT_EQ(m.supervision.within_ms, 9u);
  EXPECT_EQ(m.supervision.max_restarts, 3u);
  EXPECT_TRUE(m.store_payloads);
}

TEST(Manifest, RelativePathsResolveAgainstBaseDir) {
  auto m = parse(R"(
name = "a"
component = "../shared/./a.wasm"
init_state = "state/a.json"
[[children]]
manifest = "./kids/w.toml"
init_state = "../w.json"
)");
  EXPECT_EQ(m.component, "../shared/./a.wasm");  // kept as written
  EXPECT_EQ(m.component_path, "/base/shared/a.wasm");
  EXPECT_EQ(m.init_state, fs::path("/base/dir/state/a.json"));
  ASSERT_EQ(m.children.size(), 1u);
  EXPECT_EQ(m.children[0].manifest, "/base/dir/kids/w.toml");
  EXPECT_EQ(m.children[0].init_state, fs::path("/base/w.json"));

  auto absolute = parse("name = \"a\"\ncomponent = \"/opt/a.wasm\"\ninit_state = \"/var/s\"");
  EXPECT_EQ(absolute.component_path, "/opt/a.wasm");
  EXPECT_EQ(absolute.init_state, fs::path("/var/s"));
}

TEST(Manifest, FilesNeedNotExistAtParseTime) {
  auto m =
      parse_manifest("name = \"a\"\ncomponent = \"missing.wasm\"\ninit_state = \"missing.json\"",
                     "/nonexistent", "<spawn>");
  EXPECT_EQ(m.component_path, "/nonexistent/missing.wasm");
  EXPECT_EQ(m.source, "<spawn>");
}

TEST(Manifest, Sha256ComponentIsAReference) {
  const std::string hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  auto m = parse("name = \"a\"\ncomponent = \"sha256:" + hex + "\"");
  EXPECT_EQ(m.component, "sha256:" + hex);
  EXPECT_TRUE(m.component_path.empty());
}

TEST(Manifest, InvalidSha256ComponentIsAnError) {
  const std::string bad_refs[] = {
      "sha256:",                               // no digest
      "sha256:abc",                            // too short
      "sha256:" + std::string(65, 'a'),        // too long
      "sha256:" + std::string(64, 'A'),        // the store's names are lowercase
      "sha256:" + std::string(63, 'a') + "g",  // not hex
  };
  for (const std::string& bad : bad_refs) {
    EXPECT_MANIFEST_ERROR(
        "name = \"a\"\ncomponent = \"" + bad + "\"",
        "component '" + bad + "': a sha256: reference needs 64 lowercase hex digits");
  }
}

TEST(Manifest, Children) {
  auto m = parse(with_minimal(R"(
[[children]]
manifest = "one.toml"
[[children]]
manifest = "two.toml"
init_state = "two.json"
[[children]]
manifest = "three.toml"
)"));
  ASSERT_EQ(m.children.size(), 3u);  // in the order written: that is the start order
  EXPECT_EQ(m.children[0].manifest, "/base/dir/one.toml");
  EXPECT_FALSE(m.children[0].init_state);
  EXPECT_EQ(m.children[1].manifest, "/base/dir/two.toml");
  EXPECT_EQ(m.children[1].init_state, fs::path("/base/dir/two.json"));
  EXPECT_EQ(m.children[2].manifest, "/base/dir/three.toml");

  EXPECT_TRUE(parse(with_minimal("children = []")).children.empty());
  auto inline_tables = parse(with_minimal("children = [{ manifest = \"w.toml\" }]"));
  ASSERT_EQ(inline_tables.children.size(), 1u);
  EXPECT_EQ(inline_tables.children[0].manifest, "/base/dir/w.toml");
}

TEST(Manifest, ChildErrorsNameTheEntry) {
  EXPECT_MANIFEST_ERROR(
      with_minimal("[[children]]\nmanifest = \"a.toml\"\n[[children]]\ninit_state = \"x\""),
      "missing required key 'children[1].manifest'");
  EXPECT_MANIFEST_ERROR(with_minimal("[[children]]\nmanifest = \"w.toml\"\nwho = 1"),
                        "unknown key 'children[0].who'");
  EXPECT_MANIFEST_ERROR(with_minimal("[[children]]\nmanifest = \"w.toml\"\ninit_stat = \"s\""),
                        "unknown key 'children[0].init_stat'; did you mean 'init_state'?");
  EXPECT_MANIFEST_ERROR(with_minimal("[[children]]\nmanifest = 3"),
                        "children[0].manifest must be a string, got integer");
  EXPECT_MANIFEST_ERROR(with_minimal("[[children]]\nmanifest = \"\""),
                        "children[0].manifest must not be empty");
  EXPECT_MANIFEST_ERROR(with_minimal("children = \"w.toml\""),
                        "children must be an array of tables ([[children]]), got string");
  EXPECT_MANIFEST_ERROR(with_minimal("[children]\nmanifest = \"w.toml\""),
                        "children must be an array of tables ([[children]]), got table");
  EXPECT_MANIFEST_ERROR(with_minimal("children = [\"w.toml\"]"),
                        "children must be an array of tables ([[children]]), got array");
}

TEST(Manifest, UnknownKeysAreNamedWithTheirTablePath) {
  EXPECT_MANIFEST_ERROR(with_minimal("colour = \"red\""), "unknown key 'colour'");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmemroy_mb = 3"),
                        "unknown key 'limits.memroy_mb'; did you mean 'memory_mb'?");
  EXPECT_MANIFEST_ERROR(with_minimal("[supervision]\nstrategy = \"one_for_one\"\nmax_restart = 1"),
                        "unknown key 'supervision.max_restart'; did you mean 'max_restarts'?");
  EXPECT_MANIFEST_ERROR(with_minimal("[chain]\nstore_payload = true"),
                        "unknown key 'chain.store_payload'; did you mean 'store_payloads'?");
  EXPECT_MANIFEST_ERROR(with_minimal("[limit]\nmailbox = 3"),
                        "unknown key 'limit'; did you mean 'limits'?");
  EXPECT_MANIFEST_ERROR(with_minimal("hanlders = []"),
                        "unknown key 'hanlders'; did you mean 'handlers'?");
  // A key that belongs to another table is unknown where it stands.
  EXPECT_MANIFEST_ERROR(with_minimal("mailbox = 3"), "unknown key 'mailbox'");
}

TEST(Manifest, DidYouMeanOnlyForCloseKeys) {
  // Three edits from "mailbox": no hint, rather than a misleading one.
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmbox = 3"), "unknown key 'limits.mbox'");
  // A missing, extra, wrong or swapped pair of letters is within reach.
  EXPECT_MANIFEST_ERROR(with_minimal("versio = \"1\""),
                        "unknown key 'versio'; did you mean 'version'?");
  EXPECT_MANIFEST_ERROR(with_minimal("[supervision]\nwithin_mss = 3"),
                        "unknown key 'supervision.within_mss'; did you mean 'within_ms'?");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmailbax = 3"),
                        "unknown key 'limits.mailbax'; did you mean 'mailbox'?");
  EXPECT_MANIFEST_ERROR(with_minimal("[supervision]\nstartegy = \"one_for_one\""),
                        "unknown key 'supervision.startegy'; did you mean 'strategy'?");
}

TEST(Manifest, MissingAndEmptyRequiredKeys) {
  EXPECT_MANIFEST_ERROR("component = \"a.wasm\"", "missing required key 'name'");
  EXPECT_MANIFEST_ERROR("name = \"a\"", "missing required key 'component'");
  EXPECT_MANIFEST_ERROR("", "missing required key 'name'");
  EXPECT_MANIFEST_ERROR("name = \"\"\ncomponent = \"a.wasm\"", "name must not be empty");
  EXPECT_MANIFEST_ERROR("name = \"a\"\ncomponent = \"\"", "component must not be empty");
  EXPECT_MANIFEST_ERROR(with_minimal("init_state = \"\""), "init_state must not be empty");
}

TEST(Manifest, WrongTypes) {
  EXPECT_MANIFEST_ERROR("name = 3\ncomponent = \"a.wasm\"", "name must be a string, got integer");
  EXPECT_MANIFEST_ERROR(with_minimal("version = 1.5"),
                        "version must be a string, got floating-point");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmailbox = \"many\""),
                        "limits.mailbox must be a positive integer, got string");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmemory_mb = 16.0"),
                        "limits.memory_mb must be a positive integer, got floating-point");
  EXPECT_MANIFEST_ERROR(with_minimal("[supervision]\nmax_restarts = true"),
                        "supervision.max_restarts must be a non-negative integer, got boolean");
  EXPECT_MANIFEST_ERROR(with_minimal("restart = 1"), "restart must be a string, got integer");
  EXPECT_MANIFEST_ERROR(with_minimal("handlers = \"timing\""),
                        "handlers must be an array of strings, got string");
  EXPECT_MANIFEST_ERROR(with_minimal("handlers = [1]"),
                        "handlers must be an array of strings, got an element of type integer");
  EXPECT_MANIFEST_ERROR(with_minimal("limits = 5"),
                        "limits must be a table ([limits]), got integer");
  EXPECT_MANIFEST_ERROR(with_minimal("chain = true"),
                        "chain must be a table ([chain]), got boolean");
  EXPECT_MANIFEST_ERROR(with_minimal("[chain]\nstore_payloads = \"no\""),
                        "chain.store_payloads must be true or false, got string");
  EXPECT_MANIFEST_ERROR(with_minimal("[environment]\nDEBUG = 1"),
                        "environment.DEBUG must be a string, got integer");
}

TEST(Manifest, OutOfRangeNumbers) {
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmailbox = 0"),
                        "limits.mailbox must be between 1 and 4294967295, got 0");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmailbox = -4"),
                        "limits.mailbox must be between 1 and 4294967295, got -4");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmax_state_bytes = 4294967296"),
                        "limits.max_state_bytes must be between 1 and 4294967295, got 4294967296");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmemory_mb = 4097"),
                        "limits.memory_mb must be between 1 and 4096, got 4097");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nmemory_mb = 0"),
                        "limits.memory_mb must be between 1 and 4096, got 0");
  EXPECT_MANIFEST_ERROR(with_minimal("[limits]\nhandler_timeout_ms = 0"),
                        "limits.handler_timeout_ms must be between 1 and 4294967295, got 0");
  EXPECT_MANIFEST_ERROR(with_minimal("[supervision]\nwithin_ms = 0"),
                        "supervision.within_ms must be between 1 and 4294967295, got 0");
  EXPECT_MANIFEST_ERROR(with_minimal("[supervision]\nmax_restarts = -1"),
                        "supervision.max_restarts must be between 0 and 4294967295, got -1");

  // The bounds themselves are valid.
  auto m =
      parse(with_minimal("[limits]\nmemory_mb = 4096\nmailbox = 4294967295\n"
                         "[supervision]\nmax_restarts = 0"));
  EXPECT_EQ(m.limits.memory_mb, 4096u);
  EXPECT_EQ(m.limits.mailbox, 4294967295u);
  EXPECT_EQ(m.supervision.max_restarts, 0u);
  EXPECT_EQ(parse(with_minimal("[limits]\nmemory_mb = 1")).limits.memory_mb, 1u);
}

TEST(Manifest, InvalidEnums) {
  EXPECT_MANIFEST_ERROR(with_minimal("restart = \"permanant\""),
                        "restart must be one of permanent, transient, temporary, got 'permanant'");
  EXPECT_MANIFEST_ERROR(
      with_minimal("[supervision]\nstrategy = \"one_for_some\""),
      "supervision.strategy must be one of one_for_one, one_for_all, rest_for_one, "
      "got 'one_for_some'");
  EXPECT_MANIFEST_ERROR(
      with_minimal("[supervision]\non_failure = \"panic\""),
      "supervision.on_failure must be one of restart, stop, escalate, custom, got 'panic'");
  EXPECT_MANIFEST_ERROR(with_minimal("restart = \"Permanent\""),
                        "restart must be one of permanent, transient, temporary, got 'Permanent'");
}

TEST(Manifest, EveryEnumNameParsesAndPrintsBack) {
  for (auto r : {RestartType::Permanent, RestartType::Transient, RestartType::Temporary}) {
    EXPECT_EQ(parse(with_minimal(std::string("restart = \"") + to_string(r) + "\"")).restart, r);
  }
  for (auto s : {Strategy::OneForOne, Strategy::OneForAll, Strategy::RestForOne}) {
    auto text = with_minimal(std::string("[supervision]\nstrategy = \"") + to_string(s) + "\"");
    EXPECT_EQ(parse(text).supervision.strategy, s);
  }
  for (auto o : {OnFailure::Restart, OnFailure::Stop, OnFailure::Escalate, OnFailure::Custom}) {
    auto text = with_minimal(std::string("[supervision]\non_failure = \"") + to_string(o) + "\"");
    EXPECT_EQ(parse(text).supervision.on_failure, o);
  }
  EXPECT_STREQ(to_string(RestartType::Temporary), "temporary");
  EXPECT_STREQ(to_string(Strategy::RestForOne), "rest_for_one");
  EXPECT_STREQ(to_string(OnFailure::Escalate), "escalate");
}

TEST(Manifest, Handlers) {
  auto m = parse(with_minimal(
      "handlers = [\"message-server\", \"supervisor\", \"timing\", \"random\", \"store\"]"));
  for (auto h : kKnownHandlers) EXPECT_TRUE(m.grants(h)) << h;
  EXPECT_FALSE(m.grants("timer"));

  EXPECT_MANIFEST_ERROR(
      with_minimal("handlers = [\"timer\"]"),
      "handlers: unknown handler 'timer'; known: message-server, supervisor, timing, "
      "random, store");
  EXPECT_MANIFEST_ERROR(with_minimal("handlers = [\"timing\", \"random\", \"timing\"]"),
                        "handlers: 'timing' is listed twice");
}

TEST(Manifest, Environment) {
  EXPECT_MANIFEST_ERROR(with_minimal("[environment]\n\"A=B\" = \"x\""),
                        "environment: invalid variable name 'A=B' (empty, or holds '=')");
  EXPECT_MANIFEST_ERROR(with_minimal("[environment]\n\"\" = \"x\""),
                        "environment: invalid variable name '' (empty, or holds '=')");
  EXPECT_MANIFEST_ERROR(with_minimal("[environment]\n\"A\\u0000B\" = \"x\""),
                        "environment: a variable name must not contain a NUL character");
  EXPECT_MANIFEST_ERROR(with_minimal("[environment]\nA = \"x\\u0000y\""),
                        "environment.A must not contain a NUL character");
  auto m = parse(with_minimal("[environment]\nEMPTY = \"\"\nPATHS = \"a=b:c\""));
  using Env = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(m.environment, (Env{{"EMPTY", ""}, {"PATHS", "a=b:c"}}));
}

TEST(Manifest, SyntaxErrorsGiveLineAndColumn) {
  // "source:line:column: TOML syntax error: <what toml++ says>"
  auto at = [](std::string_view source, int line) {
    return std::regex(fmt::format("{}:{}:[0-9]+: TOML syntax error: .+", source, line));
  };
  const std::string duplicate = error_of("name = \"a\"\ncomponent = \"a.wasm\"\nname = \"b\"");
  EXPECT_TRUE(std::regex_match(duplicate, at("test\\.toml", 3))) << duplicate;

  const std::string unterminated = error_of("name = \"a\"\n  component = \"a.wasm\n");
  EXPECT_TRUE(std::regex_match(unterminated, at("test\\.toml", 2))) << unterminated;

  const std::string spawned = error_of("name = ", "<spawn>");
  EXPECT_TRUE(std::regex_match(spawned, at("<spawn>", 1))) << spawned;
}

TEST(Manifest, ErrorsStartWithTheSource) {
  EXPECT_EQ(error_of("name = \"a\"", "<spawn>"), "<spawn>: missing required key 'component'");
  EXPECT_EQ(error_of(with_minimal("[limits]\nmemroy_mb = 3"), "worker.toml"),
            "worker.toml: unknown key 'limits.memroy_mb'; did you mean 'memory_mb'?");
}

// A scratch folder, removed at the end of the test.
class ManifestFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("theater-manifest-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "sub");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const fs::path& relative, std::string_view text) {
    std::ofstream(dir_ / relative) << text;
    return dir_ / relative;
  }
  fs::path dir_;
};

TEST_F(ManifestFile, LoadResolvesAgainstTheFilesFolder) {
  auto file = write("sub/w.toml",
                    "name = \"w\"\ncomponent = \"w.wasm\"\n[[children]]\nmanifest = \"../c.toml\"");
  auto m = load_manifest(file);
  EXPECT_EQ(m.source, file.string());
  EXPECT_EQ(m.base_dir, dir_ / "sub");
  EXPECT_EQ(m.component_path, dir_ / "sub" / "w.wasm");
  ASSERT_EQ(m.children.size(), 1u);
  EXPECT_EQ(m.children[0].manifest, dir_ / "c.toml");
}

TEST_F(ManifestFile, LoadErrorsNameTheFile) {
  auto file = write("bad.toml", "name = \"w\"\ncomponent = \"w.wasm\"\n[limits]\nmemroy_mb = 3\n");
  try {
    load_manifest(file);
    FAIL() << "expected a ManifestError";
  } catch (const ManifestError& e) {
    EXPECT_EQ(std::string(e.what()),
              file.string() + ": unknown key 'limits.memroy_mb'; did you mean 'memory_mb'?");
  }
}

TEST_F(ManifestFile, LoadNamesAMissingFile) {
  const auto missing = dir_ / "missing.toml";
  try {
    load_manifest(missing);
    FAIL() << "expected a ManifestError";
  } catch (const ManifestError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(missing.string() + ": cannot open", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace theater
