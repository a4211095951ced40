#pragma once
// The CLI's side of `theater server`: where the server is, its token, JSON calls with errors that
// say what failed and what to do, and following its event stream. The commands that use it are
// in client_commands.cpp (start, stop, list, ...) and client_history.cpp (events, verify, upgrade).
//
// Server: --server ADDR, else $THEATER_ADDR, else 127.0.0.1:7420.
// Token:  --token, else $THEATER_TOKEN, else <data>/token, data = --data, else $THEATER_DATA,
//         else ~/.local/share/theater (the server's default too).
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

namespace httplib {
class Client;
}

namespace theater::cli {

// Exit codes of the client commands.
inline constexpr int kExitFailed = 1;       // the server said no (unknown actor, actor failed, ...)
inline constexpr int kExitUsage = 2;        // a local problem: bad arguments, a file missing
inline constexpr int kExitUnreachable = 3;  // no server there, or it refused the token

// An error for the user: printed as "error: <message>" (+ hint), exits with `exit_code`.
struct CliError : std::runtime_error {
  CliError(int code, const std::string& message, std::string hint_ = "")
      : std::runtime_error(message), exit_code(code), hint(std::move(hint_)) {}
  int exit_code;
  std::string hint;
};

std::filesystem::path default_data_dir();

struct ClientOptions {
  std::string server;
  std::string token;
  std::string data_dir;
  bool json = false;
};
// --server, --token, --data, --json on a client subcommand.
void add_client_options(CLI::App* cmd, ClientOptions& options);

class ApiClient {
 public:
  // Resolves the address and the token (throws CliError saying where it looked).
  explicit ApiClient(const ClientOptions& options);
  ~ApiClient();

  nlohmann::json get(const std::string& path);
  nlohmann::json post(const std::string& path, const nlohmann::json& body,
                      std::chrono::seconds timeout = std::chrono::seconds(600));
  nlohmann::json del(const std::string& path);
  // Follows GET `path` as Server-Sent Events, calling on_event with each event's JSON until
  // it returns false, the stream ends, or stop() is called (from another thread).
  void follow(const std::string& path, const std::function<bool(const nlohmann::json&)>& on_event);
  void stop();

  const std::string& address() const { return address_; }
  const std::string& token() const { return token_; }

 private:
  std::unique_ptr<httplib::Client> make_client(std::chrono::seconds read_timeout);

  std::string address_, host_, token_, token_source_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> stream_client_;
};

// Runs a client command body: CliError and other exceptions become a message and an exit code.
void run_client_command(const std::function<void()>& body);

// URL-encodes a path segment (actor ids are plain, but nothing is assumed).
std::string url_segment(const std::string& s);

// A table for people: a header row, then rows; columns padded to their widest cell.
std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
std::string human_duration_ms(int64_t ms);
std::string human_bytes(uint64_t bytes);

}  // namespace theater::cli
