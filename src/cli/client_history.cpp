// The history commands against a running server: events, logs (both with --follow), verify,
// upgrade. The server answers them from src/server/history.cpp (today the in-memory events; the
// durable chain once issue 5 lands). main.cpp registers events/verify/upgrade in their own block,
// where the local (store on disk) versions of the same commands are chosen instead when asked for.
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "cli/client.hpp"
#include "cli/client_view.hpp"
#include "cli/commands.hpp"
#include "cli/event_view.hpp"

namespace theater::cli {

namespace {

using Json = nlohmann::json;

struct HistoryOptions {
  ClientOptions client;
  std::string id, type, wasm;
  size_t limit = 100;
  bool follow = false;
};

// Prints the actor's recent events (of `type`, "" = all), then with --follow the new ones as
// they happen, until Ctrl-C or the actor stops.
void show_events(const HistoryOptions& o, const std::string& type) {
  ApiClient client(o.client);
  const std::string id_seg = url_segment(o.id);
  std::string query = fmt::format("?limit={}", o.limit);
  if (!type.empty()) query += "&type=" + url_segment(type);
  const Json r = client.get("/v1/actors/" + id_seg + "/events" + query);
  const bool color = ::isatty(1) && !o.client.json;
  auto print = [&](const Json& e) {
    if (o.client.json) {
      std::cout << e.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
    } else if (type == "log") {
      std::cout << e.value("detail", "") << std::endl;
    } else {
      std::cout << format_event(event_from_json(e), color) << std::endl;
    }
  };
  // An event recorded while the history was read may come again on the stream: skipped.
  std::set<std::tuple<int64_t, std::string, std::string>> seen;
  for (const auto& e : r["events"]) {
    print(e);
    seen.emplace(e.value("time_ms", int64_t{0}), e.value("type", ""), e.value("detail", ""));
  }
  if (!o.follow) return;
  std::string stream = "/v1/stream?actor=" + id_seg;
  // With a type filter, the end of the actor still comes through: it ends the follow.
  if (!type.empty()) stream += "&types=" + url_segment(type) + ",stopped,exited";
  if (r.contains("stream_cursor")) stream += fmt::format("&since={}", r["stream_cursor"].get<uint64_t>());
  client.follow(stream, [&](const Json& e) {
    if (e.value("type", "") == "gap") {
      fmt::print(stderr, "(some events were dropped: this client fell behind)\n");
      return true;
    }
    if (seen.count({e.value("time_ms", int64_t{0}), e.value("type", ""), e.value("detail", "")})) return true;
    const std::string t = e.value("type", "");
    if (type.empty() || t == type) print(e);
    return t != "stopped" && t != "exited";
  });
}

}  // namespace

void add_history_commands(CLI::App& app) {
  auto make = [&](const char* name, const char* help) {
    auto o = std::make_shared<HistoryOptions>();
    auto* cmd = app.add_subcommand(name, help);
    add_client_options(cmd, o->client);
    cmd->add_option("id", o->id, "The actor's id")->required();
    return std::make_pair(cmd, o);
  };
  {
    auto [cmd, o] = make("events", "An actor's events (from the server); --follow for new ones as they happen");
    cmd->add_flag("--follow,-f", o->follow, "Keep printing new events until Ctrl-C or the actor stops");
    cmd->add_option("--type", o->type, "Only events of this type (failed, restarted, log, ...)");
    cmd->add_option("--limit", o->limit, "How many past events to show (at most 1000)")->check(CLI::Range(0, 1000));
    cmd->callback([o = o] { run_client_command([&] { show_events(*o, o->type); }); });
  }
  {
    auto [cmd, o] = make("logs", "An actor's log lines (from the server); --follow for new ones");
    cmd->add_flag("--follow,-f", o->follow, "Keep printing new lines until Ctrl-C or the actor stops");
    cmd->add_option("--limit", o->limit, "How many past lines to show (at most 1000)")->check(CLI::Range(0, 1000));
    cmd->callback([o = o] { run_client_command([&] { show_events(*o, "log"); }); });
  }
  {
    auto [cmd, o] = make("verify", "Check an actor's recorded history on the server");
    cmd->callback([o = o] {
      run_client_command([&] {
        auto r = ApiClient(o->client).get("/v1/actors/" + url_segment(o->id) + "/verify");
        if (o->client.json) {
          std::cout << r.dump(2) << std::endl;
        } else {
          fmt::print("{}: {}\n", r.value("ok", false) ? "ok" : "BROKEN", r.value("detail", ""));
        }
        if (!r.value("ok", false)) set_exit_code(kExitFailed);
      });
    });
  }
  {
    auto [cmd, o] = make("upgrade", "Replace an actor's code on the server, keeping its id and state");
    cmd->add_option("wasm", o->wasm, "The new module (.wasm), a path on the server's machine")->required();
    cmd->callback([o = o] {
      run_client_command([&] {
        std::error_code ec;
        const auto path = std::filesystem::absolute(o->wasm, ec);
        if (!std::filesystem::is_regular_file(path, ec)) throw CliError(kExitUsage, fmt::format("no file {}", o->wasm));
        auto r = ApiClient(o->client).post("/v1/actors/" + url_segment(o->id) + "/upgrade", Json{{"component", path.string()}});
        o->client.json ? (void)(std::cout << r.dump(2) << std::endl) : fmt::print("upgraded {}\n", o->id);
      });
    });
  }
}

}  // namespace theater::cli
