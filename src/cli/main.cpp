// The `theater` command. Subcommands live in one file each under src/cli/ (run.cpp ...); this
// file only wires them into CLI11.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"

namespace {

// `theater events|verify|upgrade ... --data DIR` with no --server, on a data directory that no
// running process holds (its store's lock is free): the local version of a history command.
// Otherwise the command asks the server (and --data only says where its token is).
bool wants_local_history(int argc, char** argv) {
  if (argc < 2) return false;
  const std::string_view command = argv[1];
  if (command != "events" && command != "verify" && command != "upgrade") return false;
  std::string data_dir;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--server" || arg.starts_with("--server=")) return false;
    if (arg == "--data" && i + 1 < argc) data_dir = argv[i + 1];
    if (arg.starts_with("--data=")) data_dir = std::string(arg.substr(7));
  }
  if (data_dir.empty()) return false;
  const int fd = ::open((std::filesystem::path(data_dir) / "lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // no store there: the local command says so clearly
  const bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);  // releases it again
  return free;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Theater: a runtime for WebAssembly actors with Erlang/OTP-style supervision"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("theater ") + THEATER_VERSION);
  theater::cli::add_run_command(app);
  theater::cli::add_inspect_command(app);
  theater::cli::add_cluster_command(app);
  theater::cli::add_server_command(app);
  theater::cli::add_client_commands(app);
  theater::cli::add_build_commands(app);
  theater::cli::add_bench_command(app);

  // ---- events / logs / verify / upgrade / replay ------------------------------------------------
  // events, verify and upgrade exist twice: against a running server (client_history.cpp), and
  // locally against a data directory that no server holds (events.cpp, verify.cpp, upgrade.cpp;
  // docs/state.md). Each name is registered once (see wants_local_history).
  if (wants_local_history(argc, argv)) {
    theater::cli::add_events_command(app);
    theater::cli::add_verify_command(app);
    theater::cli::add_upgrade_command(app);
  } else {
    theater::cli::add_history_commands(app);
  }
  theater::cli::add_replay_command(app);  // local only: it runs the recorded module here
  // ---------------------------------------------------------------------------------------------
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return theater::cli::exit_code();
}
