#pragma once
// Subcommands of the `theater` CLI. Each registers itself on the app and runs from its callback.
#include <CLI/CLI.hpp>

namespace theater::cli {

void add_run_command(CLI::App& app);      // theater run <manifest> [--send M]... [--request M]...
void add_inspect_command(CLI::App& app);  // theater inspect-module <file.wasm>
void add_server_command(CLI::App& app);   // theater server [--data DIR] [--listen ADDR]
// Commands that talk to a running server (client_commands.cpp): start, stop, restart, list, tree,
// inspect, send, request, dashboard.
void add_client_commands(CLI::App& app);
// events, logs, verify, upgrade against a running server (client_history.cpp).
void add_history_commands(CLI::App& app);
void add_build_commands(CLI::App& app);   // theater build <dir>, theater new <name> (build.cpp)
void add_bench_command(CLI::App& app);    // theater bench [WORKLOAD...] [--json]

// The process exit code chosen by the subcommand that ran.
int exit_code();
void set_exit_code(int code);

}  // namespace theater::cli
