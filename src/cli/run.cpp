// theater run <manifest>: runs an actor (with its [[children]]) in this process, prints its log
// lines and lifecycle events as they happen, and handles --send / --request in the order given.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "cli/commands.hpp"
#include "cli/event_view.hpp"
#include "cli/tree_view.hpp"
#include "cluster/cluster.hpp"

namespace theater::cli {

namespace {

int g_exit_code = 0;
volatile std::sig_atomic_t g_interrupted = 0;

struct RunOptions {
  std::string manifest;
  std::vector<std::string> sends, requests;
  std::string engine = "aot";
  std::string init_state;
  bool json = false;
  bool quiet = false;
  unsigned workers = 0;
  int timeout_ms = 30000;
  unsigned hibernate_after_ms = 0;
  cluster::ClusterConfig cluster;  // nats_url empty: a single node
  unsigned heartbeat_ms = 250;
  bool sync_state = false;
  std::string data_dir;
  std::string durability = "group";
  unsigned group_commit_ms = 5;
  bool no_chain = false;
};

// The live tree as render_tree wants it.
std::string draw_live_tree(const Runtime& runtime, bool color) {
  std::map<std::string, TreeRow> rows;
  for (const auto& a : runtime.list()) {
    TreeRow row{a.id, a.name, to_string(a.status), a.restarts, a.mailbox, a.state_bytes, {}};
    if (auto actor = runtime.find(a.id)) row.children = actor->children();
    rows.emplace(a.id, std::move(row));
  }
  return render_tree(rows, runtime.top_level(), color);
}

// With a data dir that holds a tree, that tree comes back (recover) instead of a new one: the
// manifest then names, by its `name`, the top-level actor that --send / --request go to; if none
// has that name, the manifest is spawned beside the recovered ones.
std::string recover_or_spawn(Runtime& runtime, const Manifest& manifest, const RunOptions& o) {
  // In a cluster the states are in JetStream and the cluster takes back what the directory says
  // this node hosts; the data dir keeps this node's event chains (docs/cluster.md).
  const auto recovered = o.cluster.nats_url.empty() ? runtime.recover() : std::vector<std::string>{};
  if (!recovered.empty()) {
    fmt::print(stderr, "recovered {} top-level actor(s) from {}\n", recovered.size(), o.data_dir);
  }
  for (const auto& id : recovered) {
    if (auto a = runtime.find(id); a && a->manifest().name == manifest.name) {
      if (!o.init_state.empty()) fmt::print(stderr, "note: --init-state ignored: {} was recovered\n", id);
      return id;
    }
  }
  std::optional<Bytes> init;
  if (!o.init_state.empty()) init = o.init_state;
  return runtime.spawn(manifest, init);
}

// The --send and --request values, interleaved in the order they were given.
std::vector<std::pair<bool, std::string>> ordered_messages(CLI::App& cmd, const RunOptions& o) {
  std::vector<std::pair<bool, std::string>> out;
  size_t s = 0, r = 0;
  for (const CLI::Option* opt : cmd.parse_order()) {
    if (opt->get_name() == "--send" && s < o.sends.size()) out.emplace_back(false, o.sends[s++]);
    if (opt->get_name() == "--request" && r < o.requests.size()) out.emplace_back(true, o.requests[r++]);
  }
  return out;
}

int run(CLI::App& cmd, const RunOptions& o) {
  const bool color = !o.json && ::isatty(1);
  RuntimeConfig config;
  config.workers = o.workers;
  config.hibernate_after = std::chrono::milliseconds(o.hibernate_after_ms);
  config.engine.tier = o.engine == "interp" ? engine::Tier::Interp : engine::Tier::Aot;
  // Actors start at once on the interpreter while their native code compiles.
  config.engine.interp_while_compiling = true;
  config.data_dir = o.data_dir;
  config.store.durability = o.durability == "sync" ? state::Durability::Sync : state::Durability::Group;
  config.store.group_commit = std::chrono::milliseconds(o.group_commit_ms);
  config.chain = !o.no_chain;
  if (::isatty(2) && !o.json) {
    config.engine.progress = [](std::string_view what, double fraction) {
      fmt::print(stderr, "\r{} {:3.0f}%{}", what, fraction * 100, fraction >= 1.0 ? "\n" : "");
    };
  }
  Manifest manifest;
  try {
    manifest = load_manifest(o.manifest);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  std::mutex print_mutex;  // before the runtime: its shutdown still prints
  std::optional<Runtime> holder;
  try {
    holder.emplace(config);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  Runtime& runtime = *holder;
  std::shared_ptr<cluster::Cluster> cluster;
  if (!o.cluster.nats_url.empty()) {
    try {
      auto cc = o.cluster;
      cc.heartbeat = std::chrono::milliseconds(o.heartbeat_ms);
      cc.durability = o.sync_state ? cluster::Durability::Sync : cluster::Durability::Async;
      cluster = cluster::Cluster::join(runtime, cc);
    } catch (const std::exception& e) {
      fmt::print(stderr, "error: {}\n", e.what());
      return 2;
    }
  }
  runtime.observe([&](const Event& e) {
    if (o.quiet && e.type != "failed" && e.type != "tree-stopped") return;
    std::lock_guard lock(print_mutex);
    if (o.json) {
      std::cout << e.json() << std::endl;
    } else {
      std::cout << format_event(e, color) << std::endl;
    }
  });
  std::string id;
  try {
    id = recover_or_spawn(runtime, manifest, o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
  const bool readable = !o.json && !o.quiet;
  if (readable) {
    std::lock_guard lock(print_mutex);
    std::cout << "\n" << draw_live_tree(runtime, color) << std::endl;
  }
  const auto messages = ordered_messages(cmd, o);
  int failures = 0;
  for (const auto& [is_request, text] : messages) {
    runtime.wait_idle(std::chrono::milliseconds(o.timeout_ms));
    if (is_request) {
      auto r = runtime.request(id, text, std::chrono::milliseconds(o.timeout_ms));
      // With --data a reply is printed once what came before it is durable: it is acknowledged.
      runtime.wait_durable();
      std::lock_guard lock(print_mutex);
      if (r.rc == abi::kOk) {
        if (o.json) {
          std::cout << nlohmann::json{{"request", text}, {"reply", r.reply}}.dump() << std::endl;
        } else if (readable) {
          // Aligned with the event lines: time, the actor, "reply", what was asked and the answer.
          Event e;
          e.time_ms = wall_ms();
          e.actor = id;
          e.type = "reply";
          e.detail = fmt::format("'{}' -> {}", text, r.reply);
          std::cout << format_event(e, color) << std::endl;
        } else {
          std::cout << r.reply << std::endl;
        }
      } else {
        ++failures;
        if (o.json) {
          std::cout << nlohmann::json{{"request", text}, {"error", abi::rc_name(r.rc)}}.dump() << std::endl;
        } else {
          std::cout << fmt::format("error: request '{}' got {} ({})", text, abi::rc_name(r.rc), r.rc) << std::endl;
        }
      }
    } else if (int32_t rc = runtime.send(id, text); rc != abi::kOk) {
      ++failures;
      std::lock_guard lock(print_mutex);
      std::cout << fmt::format("error: send '{}' got {} ({})", text, abi::rc_name(rc), rc) << std::endl;
    }
  }
  if (!messages.empty()) {
    runtime.wait_idle(std::chrono::milliseconds(o.timeout_ms));
  } else {
    std::signal(SIGINT, [](int) { g_interrupted = 1; });
    std::signal(SIGTERM, [](int) { g_interrupted = 1; });
    // Until Ctrl-C, an escalation at the root, or the last top-level actor ending normally.
    // (A cluster node stays until Ctrl-C: actors may come to it from other nodes.)
    while (!g_interrupted && !runtime.tree_stopped_reason() && (cluster || !runtime.top_level().empty())) {
      runtime.wait_tree_stopped(std::chrono::milliseconds(100));
    }
  }
  if (readable) {
    std::lock_guard lock(print_mutex);
    std::cout << "\n" << draw_live_tree(runtime, color) << std::endl;
  }
  runtime.shutdown();
  if (auto reason = runtime.tree_stopped_reason()) {
    fmt::print(stderr, "the supervision tree stopped: {}\n", *reason);
    return 3;
  }
  return failures ? 1 : 0;
}

}  // namespace

int exit_code() { return g_exit_code; }
void set_exit_code(int code) { g_exit_code = code; }

void add_run_command(CLI::App& app) {
  auto opts = std::make_shared<RunOptions>();
  opts->cluster.nats_url.clear();  // ClusterConfig's default url is for `theater cluster`: no --cluster, no cluster
  auto* cmd = app.add_subcommand("run", "Run an actor and its children in this process");
  cmd->add_option("manifest", opts->manifest, "The actor's manifest (.toml)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--send", opts->sends, "Send a message to the actor (repeatable)");
  cmd->add_option("--request", opts->requests, "Send a request and print the reply (repeatable)");
  cmd->add_option("--engine", opts->engine, "aot (default) or interp")->check(CLI::IsMember({"aot", "interp"}));
  cmd->add_option("--init-state", opts->init_state, "Initial state bytes (instead of the manifest's)");
  cmd->add_option("--workers", opts->workers, "Worker threads (default: one per core)");
  cmd->add_option("--timeout-ms", opts->timeout_ms, "How long to wait for each request");
  cmd->add_option("--hibernate-after", opts->hibernate_after_ms,
                  "Idle actors drop their instance after this many ms, keeping their committed state "
                  "(default 0: never; a manifest's [limits] hibernate_after_ms wins)");
  cmd->add_option("--cluster", opts->cluster.nats_url, "Join the cluster at this NATS url (nats://HOST:PORT)");
  cmd->add_option("--node", opts->cluster.node_name, "This node's name in the cluster")->needs("--cluster");
  cmd->add_option("--heartbeat-ms", opts->heartbeat_ms, "Cluster heartbeat period (a node silent for 4 is down)");
  cmd->add_flag("--sync-state", opts->sync_state, "Cluster: release a reply only once the state is in JetStream");
  cmd->add_option("--data", opts->data_dir,
                  "Data dir: state and the event chain are stored there, and a tree stored there is "
                  "brought back instead of spawning anew (docs/state.md). With --cluster: this node's "
                  "event chains (states live in JetStream, with each chain's head)");
  cmd->add_option("--durability", opts->durability, "With --data: sync (every commit on disk before the "
                  "actor goes on) or group (default: written every --group-commit-ms)")
      ->check(CLI::IsMember({"sync", "group"}));
  cmd->add_option("--group-commit-ms", opts->group_commit_ms, "With --durability group: how often (default 5)");
  cmd->add_flag("--no-chain", opts->no_chain, "With --data: store states only, no event chain");
  cmd->add_flag("--json", opts->json, "One JSON object per line instead of a readable log");
  cmd->add_flag("--quiet", opts->quiet, "Print only replies and failures");
  cmd->callback([cmd, opts] { set_exit_code(run(*cmd, *opts)); });
}

}  // namespace theater::cli
