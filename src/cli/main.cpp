// The `theater` command. Subcommands live in one file each under src/cli/ (run.cpp ...); this
// file only wires them into CLI11.
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Theater: a runtime for WebAssembly actors with Erlang/OTP-style supervision"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("theater ") + THEATER_VERSION);
  theater::cli::add_run_command(app);
  theater::cli::add_inspect_command(app);
  theater::cli::add_events_command(app);
  theater::cli::add_verify_command(app);
  theater::cli::add_replay_command(app);
  theater::cli::add_upgrade_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return theater::cli::exit_code();
}
