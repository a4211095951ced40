#pragma once
// Subcommands of the `theater` CLI. Each registers itself on the app and runs from its callback.
#include <CLI/CLI.hpp>

#include <functional>

namespace theater::cli {

void add_run_command(CLI::App& app);      // theater run <manifest> [--send M]... [--request M]...
void add_inspect_command(CLI::App& app);  // theater inspect-module <file.wasm>
void add_cluster_command(CLI::App& app);  // theater cluster --cluster nats://HOST:PORT
void add_server_command(CLI::App& app);   // theater server [--data DIR] [--listen ADDR]
// Commands that talk to a running server (client_commands.cpp): start, stop, restart, list, tree,
// inspect, send, request, dashboard.
void add_client_commands(CLI::App& app);
// events, logs, verify, upgrade against a running server (client_history.cpp).
void add_history_commands(CLI::App& app);
void add_build_commands(CLI::App& app);   // theater build <dir>, theater new <name> (build.cpp)
void add_bench_command(CLI::App& app);    // theater bench [WORKLOAD...] [--json]
// Durable state (docs/state.md): each reads (or, upgrade, runs) the store in --data DIR.
void add_events_command(CLI::App& app);   // theater events <actor> --data DIR [--type T]... [--json]
void add_verify_command(CLI::App& app);   // theater verify <actor>... | --all --data DIR
void add_replay_command(CLI::App& app);   // theater replay <actor>... | --all --data DIR
void add_upgrade_command(CLI::App& app);  // theater upgrade <actor> <new.wasm | manifest.toml> --data DIR

// Runs `body`, turning an exception into "error: ..." on stderr and exit code 2.
void guarded(const std::function<int()>& body);

// The process exit code chosen by the subcommand that ran.
int exit_code();
void set_exit_code(int code);

}  // namespace theater::cli
