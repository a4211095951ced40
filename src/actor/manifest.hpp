#pragma once
// An actor's manifest (../shared/design/manifest.md): what it is, what it may do, how it is
// supervised. Parsing is strict: an unknown key, a wrong type or an invalid value is a
// ManifestError whose message names the file (or "<spawn>") and the key.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace theater {

struct ManifestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class RestartType { Permanent, Transient, Temporary };
enum class Strategy { OneForOne, OneForAll, RestForOne };
enum class OnFailure { Restart, Stop, Escalate, Custom };

const char* to_string(RestartType);
const char* to_string(Strategy);
const char* to_string(OnFailure);

struct Limits {
  uint32_t memory_mb = 16;
  uint32_t handler_timeout_ms = 5000;
  uint32_t mailbox = 10000;
  uint32_t max_message_bytes = 1048576;
  uint32_t max_state_bytes = 16777216;
  // Idle this long, the actor drops its instance and keeps only its committed state; the next
  // message resumes it (theater_init reason 3). Unset: the runtime's default; 0: never.
  std::optional<uint32_t> hibernate_after_ms;
  // A stop or a restart gives a handler still running this long to finish, and theater_shutdown
  // this long to return; past it the instance is dropped (killed) and the stop goes on.
  uint32_t shutdown_timeout_ms = 5000;
  bool operator==(const Limits&) const = default;
};

struct SupervisionSpec {
  Strategy strategy = Strategy::OneForOne;
  OnFailure on_failure = OnFailure::Restart;
  uint32_t max_restarts = 3;
  uint32_t within_ms = 5000;
  bool operator==(const SupervisionSpec&) const = default;
};

struct ChildSpec {
  std::filesystem::path manifest;                  // resolved against the parent manifest's folder
  std::optional<std::filesystem::path> init_state;  // resolved likewise
  bool operator==(const ChildSpec&) const = default;
};

// The capabilities of actor-abi.md, by manifest name.
inline constexpr std::string_view kKnownHandlers[] = {"message-server", "supervisor", "timing",
                                                      "random", "store"};

struct Manifest {
  std::string name;
  std::string component;                            // as written: a path or "sha256:<hex>"
  std::filesystem::path component_path;             // resolved path (empty for sha256: refs)
  std::string version;
  std::vector<std::string> handlers;                // each one of kKnownHandlers
  std::optional<std::filesystem::path> init_state;  // resolved path
  RestartType restart = RestartType::Permanent;
  Limits limits;
  SupervisionSpec supervision;
  std::vector<ChildSpec> children;
  std::vector<std::pair<std::string, std::string>> environment;  // [environment] table, for WASI
  bool store_payloads = true;                       // [chain] store_payloads (issue 5 uses it)

  std::filesystem::path base_dir;  // the folder relative paths are resolved against
  std::string source;              // the file path, or "<spawn>" for text passed to spawn

  bool grants(std::string_view handler) const;
  bool operator==(const Manifest&) const = default;
};

// Parses manifest text. `source` names it in errors; relative paths resolve against base_dir.
Manifest parse_manifest(std::string_view toml_text, const std::filesystem::path& base_dir,
                        std::string_view source);
// Reads and parses a manifest file; base_dir is the file's folder.
Manifest load_manifest(const std::filesystem::path& file);

}  // namespace theater
