// The `theater` client commands against a live `theater server` process started by the test:
// each command's output (people's and --json), its errors and exit codes, --follow, and the
// server's graceful stop on SIGTERM.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/files.hpp"
#include "base/process.hpp"
#include "server_fixture.hpp"
#include "support/child_process.hpp"

namespace theater::test {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fresh_dir("cli");
    ASSERT_NO_FATAL_FAILURE(start_server("server.log", "started supervisor-"));
    ids = actor_ids();
    ASSERT_EQ(ids.size(), 4u);
  }
  // Starts `theater server --start demo.toml` on the test's data dir, waits for `ready` in its
  // output and takes its address from it.
  void start_server(const std::string& log, const std::string& ready) {
    server = std::make_unique<ChildProcess>(
        std::vector<std::string>{THEATER_BINARY, "server", "--data", (dir / "data").string(), "--listen",
                                 "127.0.0.1:0", "--start", std::string(THEATER_EXAMPLES_DIR) + "/demo.toml"},
        dir / log);
    // A cold compile cache (CI) compiles four modules first.
    ASSERT_TRUE(server->wait_for(ready, 240s)) << server->output();
    const std::string out = server->output();
    const auto at = out.find("listening on http://");
    ASSERT_NE(at, std::string::npos);
    address = out.substr(at + 20, out.find('\n', at) - at - 20);
  }
  // name -> id of every actor the server lists.
  std::map<std::string, std::string> actor_ids() {
    std::map<std::string, std::string> out;
    const Json parsed = Json::parse(cli({"list", "--json"}).output);
    for (const auto& a : parsed["actors"]) out[a["name"].get<std::string>()] = a["id"].get<std::string>();
    return out;
  }
  void TearDown() override {
    server.reset();
    std::filesystem::remove_all(dir);
  }
  // Runs `theater <args> --server <address> --data <data>`.
  ProcessResult cli(std::vector<std::string> args, bool connect = true) {
    args.insert(args.begin(), THEATER_BINARY);
    if (connect) {
      args.insert(args.end(), {"--server", address, "--data", (dir / "data").string()});
    }
    return run_process(args);
  }
  static std::string last_line(const std::string& s) {
    std::string t = s;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
  }

  std::filesystem::path dir;
  std::unique_ptr<ChildProcess> server;
  std::string address;
  std::map<std::string, std::string> ids;  // name -> id of the demo tree
};

TEST_F(CliTest, ListTreeInspect) {
  auto list = cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.output;
  for (const char* col : {"ID", "NAME", "STATUS", "RESTARTS", "MAILBOX", "UPTIME", "supervisor", "crasher", "running"}) {
    EXPECT_NE(list.output.find(col), std::string::npos) << col << "\n" << list.output;
  }
  auto tree = cli({"tree"});
  EXPECT_EQ(tree.exit_code, 0);
  EXPECT_EQ(tree.output.rfind("runtime\n└─ supervisor", 0), 0u) << tree.output;
  EXPECT_NE(tree.output.find("   ├─ counter"), std::string::npos) << tree.output;
  EXPECT_NE(tree.output.find("   └─ crasher"), std::string::npos) << tree.output;
  auto tree_json = Json::parse(cli({"tree", "--json"}).output);
  EXPECT_EQ(tree_json["children"][0]["children"].size(), 3u);
  auto inspect = cli({"inspect", ids["counter"]});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.output;
  for (const char* want : {"status       running", "uptime", "restarts     0", "mailbox      0 / 10000", "state        0 B",
                           "component          counter.wasm", "recent events", "started"}) {
    EXPECT_NE(inspect.output.find(want), std::string::npos) << want << "\n" << inspect.output;
  }
  auto ij = Json::parse(cli({"inspect", ids["counter"], "--json"}).output);
  EXPECT_EQ(ij["manifest"]["name"], "counter");
}

TEST_F(CliTest, StartSendRequestStopRestart) {
  auto start = cli({"start", std::string(THEATER_EXAMPLES_DIR) + "/counter.toml"});
  ASSERT_EQ(start.exit_code, 0) << start.output;
  const std::string id = last_line(start.output);
  EXPECT_EQ(id.rfind("counter-", 0), 0u) << start.output;
  auto sj = Json::parse(cli({"start", std::string(THEATER_EXAMPLES_DIR) + "/echo.toml", "--json"}).output);
  EXPECT_EQ(sj["name"], "echo");
  auto under = Json::parse(
      cli({"start", std::string(THEATER_EXAMPLES_DIR) + "/echo.toml", "--parent", sj["id"], "--json"}).output);
  EXPECT_EQ(under["parent"], sj["id"]);
  EXPECT_NE(cli({"inspect", under["id"]}).output.find(sj["id"].get<std::string>()), std::string::npos);

  EXPECT_EQ(cli({"send", id, "inc"}).output, "sent to " + id + "\n");
  EXPECT_EQ(cli({"send", id, "add 4"}).exit_code, 0);
  auto get = cli({"request", id, "get"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.output, "5\n");
  EXPECT_EQ(cli({"request", id, "get", "--raw"}).output, "5");
  EXPECT_EQ(Json::parse(cli({"request", id, "get", "--json"}).output)["reply"], "5");

  auto restart = cli({"restart", id});
  EXPECT_EQ(restart.exit_code, 0) << restart.output;
  EXPECT_NE(restart.output.find("restarted " + id + " (running, 1 restarts)"), std::string::npos) << restart.output;
  EXPECT_EQ(cli({"request", id, "get"}).output, "5\n");
  auto stop = cli({"stop", id});
  EXPECT_EQ(stop.exit_code, 0);
  EXPECT_EQ(stop.output, "stopped " + id + "\n");
  auto gone = cli({"inspect", id});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.output.find("error: no actor '" + id + "'"), std::string::npos) << gone.output;
  EXPECT_NE(gone.output.find("theater list"), std::string::npos) << gone.output;
}

TEST_F(CliTest, CrashEventsLogsAndFollow) {
  const std::string crasher = ids["crasher"];
  ChildProcess follow({THEATER_BINARY, "events", crasher, "--follow", "--server", address, "--data", (dir / "data").string()},
               dir / "follow.log");
  ASSERT_TRUE(follow.wait_for("started")) << follow.output();  // the history comes first
  auto trap = cli({"request", crasher, "trap"});
  EXPECT_EQ(trap.exit_code, 1);
  EXPECT_NE(trap.output.find("failed while handling it"), std::string::npos) << trap.output;
  EXPECT_NE(trap.output.find("theater events"), std::string::npos) << trap.output;
  // The follower sees the failure and the restart as they happen.
  EXPECT_TRUE(follow.wait_for("restarted")) << follow.output();
  EXPECT_NE(follow.output().find("failed        trap: unreachable"), std::string::npos) << follow.output();
  auto events = cli({"events", crasher});
  EXPECT_EQ(events.exit_code, 0);
  EXPECT_NE(events.output.find("failed"), std::string::npos);
  EXPECT_NE(events.output.find("restarted"), std::string::npos);
  auto failed_only = cli({"events", crasher, "--type", "failed", "--json"});
  std::istringstream lines(failed_only.output);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    EXPECT_EQ(Json::parse(line)["type"], "failed");
    ++n;
  }
  EXPECT_EQ(n, 1);
  auto logs = cli({"logs", crasher});
  EXPECT_EQ(logs.exit_code, 0);
  EXPECT_NE(logs.output.find("[info] restarted; handled 0 so far"), std::string::npos) << logs.output;
  auto inspect = Json::parse(cli({"inspect", crasher, "--json"}).output);
  EXPECT_EQ(inspect["restarts"], 1);
  // logs --follow ends by itself when the actor stops.
  ChildProcess follow_logs({THEATER_BINARY, "logs", crasher, "-f", "--server", address, "--data", (dir / "data").string()},
                    dir / "logs.log");
  ASSERT_TRUE(follow_logs.wait_for("restarted; handled")) << follow_logs.output();
  cli({"send", crasher, "hello"});
  EXPECT_TRUE(follow_logs.wait_for("ok, handled 1")) << follow_logs.output();
  EXPECT_EQ(cli({"stop", crasher}).exit_code, 0);
  EXPECT_EQ(follow_logs.wait_exit(10s), 0) << follow_logs.output();
}

TEST_F(CliTest, VerifyChecksTheChainAndUpgradeKeepsTheState) {
  ASSERT_EQ(cli({"send", ids["counter"], "add 7"}).exit_code, 0);
  EXPECT_EQ(cli({"request", ids["counter"], "get"}).output.find("7") != std::string::npos, true);
  auto verify = cli({"verify", ids["counter"]});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_EQ(verify.output.rfind("ok: ", 0), 0u) << verify.output;
  auto upgrade = cli({"upgrade", ids["counter"], std::string(THEATER_EXAMPLES_DIR) + "/counter.wasm"});
  EXPECT_EQ(upgrade.exit_code, 0) << upgrade.output;
  auto after = cli({"request", ids["counter"], "get"});
  EXPECT_NE(after.output.find("7"), std::string::npos) << after.output;  // state kept
  auto missing = cli({"upgrade", ids["counter"], "/no/such.wasm"});
  EXPECT_EQ(missing.exit_code, 2);
}

TEST_F(CliTest, ErrorsSayWhatFailedAndWhatToDo) {
  auto unreachable = cli({"list", "--server", "127.0.0.1:1", "--data", (dir / "data").string()}, false);
  EXPECT_EQ(unreachable.exit_code, 3);
  EXPECT_NE(unreachable.output.find("cannot reach the server at 127.0.0.1:1"), std::string::npos) << unreachable.output;
  EXPECT_NE(unreachable.output.find("theater server"), std::string::npos);
  auto wrong = cli({"list", "--server", address, "--token", "nope"}, false);
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_NE(wrong.output.find("refused the token (from --token)"), std::string::npos) << wrong.output;
  auto no_token = cli({"list", "--server", address, "--data", (dir / "elsewhere").string()}, false);
  EXPECT_EQ(no_token.exit_code, 3);
  EXPECT_NE(no_token.output.find("no token"), std::string::npos) << no_token.output;
  auto bad_manifest = cli({"start", "/no/such.toml"});
  EXPECT_EQ(bad_manifest.exit_code, 2);
  EXPECT_NE(bad_manifest.output.find("no manifest file /no/such.toml"), std::string::npos);
  auto unknown = cli({"send", "nobody-000000000000", "x"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("no actor 'nobody-000000000000'"), std::string::npos) << unknown.output;
  auto dash = cli({"dashboard"});
  EXPECT_EQ(dash.exit_code, 0);
  EXPECT_EQ(dash.output.rfind("http://" + address + "/?token=", 0), 0u) << dash.output;
}

TEST_F(CliTest, SigtermStopsTheTreeInOrderAndExitsCleanly) {
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait_exit(30s), 0) << server->output();
  const std::string out = server->output();
  EXPECT_NE(out.find("SIGTERM: stopping"), std::string::npos) << out;
  // Children in reverse start order, then their supervisor.
  std::vector<size_t> at;
  for (const char* name : {"crasher", "echo", "counter", "supervisor"}) {
    at.push_back(out.find(ids[name] + std::string(28 - ids[name].size() + 1, ' ') + "stopped"));
    EXPECT_NE(at.back(), std::string::npos) << name << "\n" << out;
  }
  EXPECT_TRUE(std::is_sorted(at.begin(), at.end())) << out;
  EXPECT_EQ(out.substr(out.size() - 8), "stopped\n");
  // Nothing listens any more.
  EXPECT_EQ(cli({"list"}).exit_code, 3);
}

// A server started again on its data dir brings the stored tree back (same ids, last committed
// states) and does not start its --start manifest a second time.
TEST_F(CliTest, ARestartedServerRecoversTheTree) {
  ASSERT_EQ(cli({"request", ids["counter"], "add 5"}).exit_code, 0);
  server->signal(SIGTERM);
  ASSERT_EQ(server->wait_exit(30s), 0) << server->output();
  ASSERT_NO_FATAL_FAILURE(start_server("server2.log", "not started again"));
  EXPECT_NE(server->output().find("recovered " + ids["supervisor"]), std::string::npos) << server->output();
  const auto now = actor_ids();
  EXPECT_EQ(now, ids);  // the same four actors, no second tree
  EXPECT_EQ(last_line(cli({"request", ids["counter"], "get"}).output), "5");
}

// `new` makes a project that `build` compiles and `run` runs, as it is; `build` says what is wrong.
TEST(CliBuildTest, NewBuildRunAndBuildErrors) {
  const auto dir = fresh_dir("build");
  const std::string project = (dir / "greeter").string();
  auto made = run_process({THEATER_BINARY, "new", "greeter", "--dir", project});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "greeter" / "greeter.c"));
  auto again = run_process({THEATER_BINARY, "new", "greeter", "--dir", project});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.output.find("exists and is not empty"), std::string::npos) << again.output;
  auto built = run_process({THEATER_BINARY, "build", project});
  ASSERT_EQ(built.exit_code, 0) << built.output;
  EXPECT_NE(built.output.find("built " + project + "/greeter.wasm"), std::string::npos) << built.output;
  auto ran = run_process({THEATER_BINARY, "run", project + "/greeter.toml", "--quiet", "--request", "hello",
                          "--request", "count"});
  ASSERT_EQ(ran.exit_code, 0) << ran.output;
  EXPECT_EQ(ran.output, "hello from greeter (message 1)\n1\n");

  // A compile error shows the compiler's message.
  write_file_atomic(dir / "greeter" / "broken.c", "int broken( { return 0; }\n");
  auto broken = run_process({THEATER_BINARY, "build", project, "--no-aot"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("broken.c does not compile"), std::string::npos) << broken.output;
  std::filesystem::remove(dir / "greeter" / "broken.c");
  // A module that calls what its manifest does not grant is refused, naming the import.
  write_file_atomic(dir / "greeter" / "greeter.toml", "name = \"greeter\"\ncomponent = \"greeter.wasm\"\n");
  auto refused = run_process({THEATER_BINARY, "build", project, "--no-aot"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("would be refused by the runtime"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("message-server"), std::string::npos) << refused.output;
  auto bad_name = run_process({THEATER_BINARY, "new", "Bad Name"});
  EXPECT_EQ(bad_name.exit_code, 2);
  std::filesystem::remove_all(dir);
}

}  // namespace theater::test
