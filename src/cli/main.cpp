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
  theater::cli::add_server_command(app);
  theater::cli::add_client_commands(app);
  theater::cli::add_build_commands(app);

  // ---- events / logs / verify / upgrade -----------------------------------------------------
  // These exist against a running server (client_history.cpp) and, with the durable store
  // (issue 5), locally against a data directory. Register each name once, here: when the local
  // versions land, this block picks between the two (e.g. remote unless --local / no server).
  theater::cli::add_history_commands(app);
  // ---------------------------------------------------------------------------------------------

  theater::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return theater::cli::exit_code();
}
