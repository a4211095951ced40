// Client commands that drive a running `theater server` (client.hpp says how it is found):
// start, stop, restart, list, tree, inspect, send, request, logs, dashboard. The history ones
// (events, verify, upgrade) are in client_history.cpp.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "base/text_codec.hpp"
#include "cli/client.hpp"
#include "cli/client_view.hpp"
#include "cli/commands.hpp"
#include "cli/tree_view.hpp"

namespace theater::cli {

namespace {

using Json = nlohmann::json;

// A message argument: the text itself, or "-" for standard input.
std::string message_arg(const std::string& arg) {
  if (arg != "-") return arg;
  return std::string(std::istreambuf_iterator<char>(std::cin), {});
}

void print_json(const Json& j) { std::cout << j.dump(2, ' ', false, Json::error_handler_t::replace) << std::endl; }

std::string actor_path(const std::string& id, const std::string& rest = "") {
  return "/v1/actors/" + url_segment(id) + rest;
}

// While `start` waits for the server, a terminal shows what it is doing: compiling modules
// (with their progress) and how many actors of the tree have started.
class StartProgress {
 public:
  explicit StartProgress(const ClientOptions& o) {
    if (!::isatty(2) || o.json) return;
    client_ = std::make_unique<ApiClient>(o);
    thread_ = std::thread([this] {
      try {
        client_->follow("/v1/stream?types=progress,started", [this](const Json& e) {
          const std::string type = e.value("type", "");
          if (type == "progress") {
            fmt::print(stderr, "\r\033[K{}", e.value("detail", ""));
          } else {
            ++started_;
            fmt::print(stderr, "\r\033[Kstarted {} actor{}: {}", started_, started_ == 1 ? "" : "s", e.value("actor", ""));
          }
          shown_ = true;
          return !done_.load();
        });
      } catch (const std::exception&) {
        // Progress is a courtesy: the start itself reports any real problem.
      }
    });
  }
  ~StartProgress() {
    done_.store(true);
    if (client_) client_->stop();
    if (thread_.joinable()) thread_.join();
    if (shown_) fmt::print(stderr, "\r\033[K");
  }

 private:
  std::unique_ptr<ApiClient> client_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  int started_ = 0;
  bool shown_ = false;
};

template <typename Options>
CLI::App* client_command(CLI::App& app, const char* name, const char* help, std::shared_ptr<Options>& o) {
  o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(name, help);
  add_client_options(cmd, o->client);
  return cmd;
}

struct IdOptions {
  ClientOptions client;
  std::string id;
};

struct MessageOptions {
  ClientOptions client;
  std::string id, message;
  bool base64 = false, raw = false;
  int64_t timeout_ms = 30000;
};

Json message_body(const MessageOptions& o) {
  Json body{{"message", message_arg(o.message)}};
  if (o.base64) {
    body["message"] = base64_encode(body["message"].get<std::string>());
    body["message_encoding"] = "base64";
  }
  return body;
}

}  // namespace

void add_client_commands(CLI::App& app) {
  {
    struct Options {
      ClientOptions client;
      std::string manifest, init_state, node, placement, parent;
    };
    std::shared_ptr<Options> o;
    auto* cmd = client_command(app, "start", "Start an actor (and its children) on the server; prints its id last", o);
    cmd->add_option("manifest", o->manifest, "The actor's manifest (.toml), a path on the server's machine")->required();
    cmd->add_option("--init-state", o->init_state, "Initial state bytes (instead of the manifest's)");
    auto* node = cmd->add_option("--node", o->node, "Start it on this node of the server's cluster");
    cmd->add_option("--placement", o->placement, "Or let the cluster pick the node: near-parent (the server's own), "
                                                 "least-loaded or spread")
        ->excludes(node);
    cmd->add_option("--parent", o->parent, "Start it under this actor (of the server's node), which supervises it");
    cmd->callback([o] {
      run_client_command([&] {
        std::error_code ec;
        const auto path = std::filesystem::absolute(o->manifest, ec);
        if (!std::filesystem::is_regular_file(path, ec)) {
          throw CliError(kExitUsage, fmt::format("no manifest file {}", o->manifest),
                         "`theater new NAME` makes an actor project with one");
        }
        ApiClient client(o->client);
        Json body{{"manifest", path.string()}};
        if (!o->init_state.empty()) body["init_state"] = o->init_state;
        if (!o->node.empty()) body["node"] = o->node;
        if (!o->placement.empty()) body["placement"] = o->placement;
        if (!o->parent.empty()) body["parent"] = o->parent;
        Json r;
        {
          StartProgress progress(o->client);
          r = client.post("/v1/actors", body);
        }
        if (o->client.json) {
          print_json(r);
        } else {
          fmt::print("started {} ({}, node {})\n{}\n", r.value("name", ""), r.value("status", ""), r.value("node", ""),
                     r.value("id", ""));
        }
      });
    });
  }
  // stop and restart: POST /v1/actors/<id>/<action>, then one line for people.
  const std::tuple<const char*, const char*, std::function<std::string(const std::string&, const Json&)>> actions[] = {
      {"stop", "Stop an actor for good (its children first)",
       [](const std::string& id, const Json&) { return fmt::format("stopped {}", id); }},
      {"restart", "Restart an actor as its supervisor would (same id, last committed state)",
       [](const std::string& id, const Json& r) {
         return fmt::format("restarted {} ({}, {} restarts)", id, r.value("status", ""), r.value("restarts", 0));
       }},
  };
  for (const auto& [name, help, say] : actions) {
    std::shared_ptr<IdOptions> o;
    auto* cmd = client_command(app, name, help, o);
    cmd->add_option("id", o->id, "The actor's id")->required();
    cmd->callback([o, action = std::string(name), say = say] {
      run_client_command([&] {
        auto r = ApiClient(o->client).post(actor_path(o->id, "/" + action), Json::object());
        o->client.json ? print_json(r) : fmt::print("{}\n", say(o->id, r));
      });
    });
  }
  // list, tree, inspect: GET, then JSON for scripts or a view for people.
  using View = std::function<std::string(const Json&)>;
  const std::tuple<const char*, const char*, bool, View> views[] = {
      {"list", "List the live actors", false, [](const Json& r) { return render_actor_table(r["actors"]); }},
      {"tree", "Draw the supervision tree", false, [](const Json& r) { return render_tree_json(r, ::isatty(1)); }},
      {"inspect", "Show an actor: manifest, state, mailbox, restarts, uptime", true,
       [](const Json& r) { return render_inspect(r, ::isatty(1)); }},
  };
  for (const auto& [name, help, takes_id, view] : views) {
    std::shared_ptr<IdOptions> o;
    auto* cmd = client_command(app, name, help, o);
    if (takes_id) cmd->add_option("id", o->id, "The actor's id")->required();
    const std::string path = std::string(name) == "list" ? "/v1/actors" : "/v1/tree";
    cmd->callback([o, path, view = view] {
      run_client_command([&] {
        auto r = ApiClient(o->client).get(o->id.empty() ? path : actor_path(o->id));
        if (o->client.json) return print_json(r);
        std::cout << view(r);
      });
    });
  }
  {
    std::shared_ptr<MessageOptions> o;
    auto* cmd = client_command(app, "send", "Send a one-way message to an actor", o);
    cmd->add_option("id", o->id, "The actor's id")->required();
    cmd->add_option("message", o->message, "The message ('-' reads standard input)")->required();
    cmd->add_flag("--base64", o->base64, "Send the message's bytes exactly (binary from standard input)");
    cmd->callback([o] {
      run_client_command([&] {
        auto r = ApiClient(o->client).post(actor_path(o->id, "/send"), message_body(*o));
        o->client.json ? print_json(r) : fmt::print("sent to {}\n", o->id);
      });
    });
  }
  {
    std::shared_ptr<MessageOptions> o;
    auto* cmd = client_command(app, "request", "Send a request to an actor and print the reply", o);
    cmd->add_option("id", o->id, "The actor's id")->required();
    cmd->add_option("message", o->message, "The message ('-' reads standard input)")->required();
    cmd->add_option("--timeout-ms", o->timeout_ms, "How long to wait for the reply")->check(CLI::Range(1, 600000));
    cmd->add_flag("--base64", o->base64, "Send the message's bytes exactly (binary from standard input)");
    cmd->add_flag("--raw", o->raw, "Print the reply's bytes only, without a newline after them");
    cmd->callback([o] {
      run_client_command([&] {
        Json body = message_body(*o);
        body["timeout_ms"] = o->timeout_ms;
        auto r = ApiClient(o->client)
                     .post(actor_path(o->id, "/request"), body, std::chrono::seconds(o->timeout_ms / 1000 + 30));
        if (o->client.json) return print_json(r);
        std::string reply = r.value("reply", "");
        if (r.value("reply_encoding", "utf8") == "base64") reply = base64_decode(reply).value_or("");
        std::cout << reply;
        if (!o->raw) std::cout << '\n';
        std::cout.flush();
      });
    });
  }
  {
    std::shared_ptr<IdOptions> o;
    auto* cmd = client_command(app, "dashboard", "Print the dashboard's address (with the token that opens it)", o);
    cmd->callback([o] {
      run_client_command([&] {
        ApiClient client(o->client);
        client.get("/v1/server");  // the server is there and takes this token
        const std::string url = fmt::format("http://{}/?token={}", client.address(), client.token());
        o->client.json ? print_json(Json{{"url", url}}) : fmt::print("{}\n", url);
      });
    });
  }
}

}  // namespace theater::cli
