// The management API over real HTTP on loopback: every endpoint, auth refusals, malformed bodies,
// the event stream, metrics, the dashboard's login, garbage on the socket, and a bounded load test.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <regex>
#include <thread>

#include "abi/abi.hpp"
#include "base/text_codec.hpp"
#include "server/auth.hpp"
#include "server_fixture.hpp"

namespace theater::test {

using namespace std::chrono_literals;
using Json = nlohmann::json;

TEST_F(ServerTest, TokenIsMadeOnceAndReadableOnlyByItsOwner) {
  const auto file = data_dir / "token";
  struct stat st{};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(srv->token().size(), 64u);
  EXPECT_EQ(server::load_or_create_token(data_dir), srv->token());  // a restart keeps it
}

TEST_F(ServerTest, EveryRouteRefusesAMissingOrWrongTokenAndDoesNothing) {
  const std::string id = start("counter");
  const std::pair<const char*, std::string> routes[] = {
      {"GET", "/v1/server"},          {"GET", "/v1/actors"},          {"POST", "/v1/actors"},
      {"GET", "/v1/actors/" + id},    {"DELETE", "/v1/actors/" + id}, {"POST", "/v1/actors/" + id + "/stop"},
      {"POST", "/v1/actors/" + id + "/restart"}, {"POST", "/v1/actors/" + id + "/send"},
      {"POST", "/v1/actors/" + id + "/request"}, {"GET", "/v1/actors/" + id + "/events"},
      {"GET", "/v1/actors/" + id + "/logs"},     {"GET", "/v1/actors/" + id + "/verify"},
      {"POST", "/v1/actors/" + id + "/upgrade"}, {"GET", "/v1/tree"},
      {"GET", "/v1/stream"},          {"GET", "/metrics"},            {"GET", "/"},
      {"GET", "/app.js"},             {"GET", "/no/such/route"}};
  const std::string manifest = (std::filesystem::path(THEATER_EXAMPLES_DIR) / "echo.toml").string();
  for (bool with_wrong : {false, true}) {
    auto c = client(false);
    if (with_wrong) c->set_bearer_token_auth(std::string(64, 'a'));
    for (const auto& [method, path] : routes) {
      httplib::Result r(nullptr, httplib::Error::Unknown);
      const std::string body = path == "/v1/actors" ? Json{{"manifest", manifest}}.dump() : R"({"message":"inc"})";
      if (std::string(method) == "GET") r = c->Get(path);
      if (std::string(method) == "POST") r = c->Post(path, body, "application/json");
      if (std::string(method) == "DELETE") r = c->Delete(path);
      ASSERT_TRUE(r) << method << " " << path;
      EXPECT_EQ(r->status, 401) << method << " " << path;
      EXPECT_NE(r->body.find(with_wrong ? "wrong token" : "missing token"), std::string::npos) << r->body;
    }
  }
  // Nothing happened: one actor, alive, never restarted, nothing sent.
  ASSERT_TRUE(runtime->wait_idle(5s));
  auto all = runtime->list();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status, ActorStatus::Running);
  EXPECT_EQ(all[0].restarts, 0u);
  EXPECT_EQ(runtime->request(id, "get").reply, "0");
}

TEST_F(ServerTest, StartListInspectTree) {
  const std::string id = start("counter");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(id.rfind("counter-", 0), 0u);
  auto [ls, list] = get("/v1/actors");
  ASSERT_EQ(ls, 200);
  ASSERT_EQ(list["actors"].size(), 1u);
  EXPECT_EQ(list["actors"][0]["id"], id);
  EXPECT_EQ(list["actors"][0]["status"], "running");
  EXPECT_EQ(list["actors"][0]["parent"], "runtime");

  ASSERT_EQ(runtime->send(id, "add 41"), abi::kOk);
  ASSERT_TRUE(runtime->wait_idle(5s));
  auto [is, a] = get("/v1/actors/" + id);
  ASSERT_EQ(is, 200) << a.dump();
  EXPECT_EQ(a["name"], "counter");
  EXPECT_EQ(a["state_bytes"], 2);
  EXPECT_EQ(a["state_preview"], "41");
  EXPECT_EQ(a["state_preview_encoding"], "utf8");
  EXPECT_EQ(a["mailbox"], 0);
  EXPECT_EQ(a["mailbox_limit"], 10000);
  EXPECT_EQ(a["restarts"], 0);
  EXPECT_TRUE(a["uptime_ms"].is_number());
  EXPECT_EQ(a["manifest"]["component"], "counter.wasm");
  EXPECT_EQ(a["manifest"]["handlers"], Json::array({"message-server"}));
  EXPECT_EQ(a["manifest"]["limits"]["handler_timeout_ms"], 5000);
  EXPECT_FALSE(a["recent_events"].empty());

  const std::string sup = start("demo");
  auto [ts, tree] = get("/v1/tree");
  ASSERT_EQ(ts, 200);
  EXPECT_EQ(tree["id"], "runtime");
  ASSERT_EQ(tree["children"].size(), 2u);
  const Json& demo = tree["children"][1];
  EXPECT_EQ(demo["id"], sup);
  ASSERT_EQ(demo["children"].size(), 3u);
  EXPECT_EQ(demo["children"][0]["name"], "counter");
  EXPECT_EQ(demo["children"][1]["name"], "echo");
  EXPECT_EQ(demo["children"][2]["name"], "crasher");
  EXPECT_EQ(demo["children"][2]["parent"], sup);

  auto [ss, info] = get("/v1/server");
  ASSERT_EQ(ss, 200);
  EXPECT_EQ(info["actors"], 5);
  EXPECT_EQ(info["address"], srv->address());
}

TEST_F(ServerTest, StartFromManifestTextAndInitState) {
  const std::string toml = "name = \"e2\"\ncomponent = \"echo.wasm\"\nhandlers = [\"message-server\"]\n";
  auto [s, r] = post("/v1/actors", Json{{"manifest_toml", toml}, {"base_dir", THEATER_EXAMPLES_DIR}}.dump());
  ASSERT_EQ(s, 201) << r.dump();
  EXPECT_EQ(r["name"], "e2");
  auto [s2, r2] = post("/v1/actors", Json{{"manifest", std::string(THEATER_EXAMPLES_DIR) + "/counter.toml"},
                                          {"init_state", base64_encode("7")},
                                          {"init_state_encoding", "base64"}}
                                         .dump());
  ASSERT_EQ(s2, 201) << r2.dump();
  EXPECT_EQ(runtime->request(r2["id"], "get").reply, "7");
}

// "parent" starts the actor under another one, which then supervises it as if it had spawned it:
// it is in the parent's children, and a stopped parent takes it along. A parent that is not
// there is a 404 that names it, and nothing is started.
TEST_F(ServerTest, StartUnderAParent) {
  const std::string parent = start("counter");
  const std::string counter = std::string(THEATER_EXAMPLES_DIR) + "/counter.toml";
  auto [s, r] = post("/v1/actors", Json{{"manifest", counter}, {"parent", parent}}.dump());
  ASSERT_EQ(s, 201) << r.dump();
  EXPECT_EQ(r["parent"], parent);
  const std::string child = r["id"];
  auto [is, a] = get("/v1/actors/" + child);
  ASSERT_EQ(is, 200) << a.dump();
  EXPECT_EQ(a["parent"], parent);
  EXPECT_EQ(a["status"], "running");
  auto [ps, p] = get("/v1/actors/" + parent);
  ASSERT_EQ(ps, 200);
  EXPECT_EQ(p["children"], Json::array({child}));
  EXPECT_EQ(runtime->request(child, "add 2").reply, "2");

  auto [ns, n] = post("/v1/actors", Json{{"manifest", counter}, {"parent", "nobody-000000000000"}}.dump());
  EXPECT_EQ(ns, 404) << n.dump();
  EXPECT_NE(n.dump().find("nobody-000000000000"), std::string::npos) << n.dump();
  auto [ls, list] = get("/v1/actors");
  EXPECT_EQ(list["actors"].size(), 2u) << "nothing started for the missing parent";

  auto [ss, stopped] = post("/v1/actors/" + parent + "/stop", "{}");
  ASSERT_EQ(ss, 200) << stopped.dump();
  auto [gs, gone] = get("/v1/actors/" + child);
  EXPECT_EQ(gs, 404) << "the child went with its parent: " << gone.dump();
  auto [rs, again] = post("/v1/actors", Json{{"manifest", counter}, {"parent", parent}}.dump());
  EXPECT_EQ(rs, 404) << again.dump();
}

// Without a cluster every actor runs here, on node "local": it is in every actor's JSON, "node"
// may name it, and a placement policy has one node to pick; another node is a 400 that says why.
TEST_F(ServerTest, NodeAndPlacementWithoutACluster) {
  const std::string counter = std::string(THEATER_EXAMPLES_DIR) + "/counter.toml";
  auto [s1, r1] = post("/v1/actors", Json{{"manifest", counter}, {"node", "local"}}.dump());
  ASSERT_EQ(s1, 201) << r1.dump();
  EXPECT_EQ(r1["node"], "local");
  for (const char* policy : {"near-parent", "least-loaded", "spread"}) {
    auto [s, r] = post("/v1/actors", Json{{"manifest", counter}, {"placement", policy}}.dump());
    EXPECT_EQ(s, 201) << policy << " " << r.dump();
    EXPECT_EQ(r["node"], "local") << policy;
  }
  auto [s2, r2] = post("/v1/actors", Json{{"manifest", counter}, {"node", "B"}}.dump());
  EXPECT_EQ(s2, 400) << r2.dump();
  EXPECT_EQ(r2["error"]["code"], "no_cluster");
  EXPECT_NE(r2["error"]["message"].get<std::string>().find("node 'B': this server is not in a cluster"),
            std::string::npos) << r2.dump();
  auto [s3, r3] = post("/v1/actors", Json{{"manifest", counter}, {"placement", "nearest"}}.dump());
  EXPECT_EQ(s3, 400) << r3.dump();
  EXPECT_NE(r3["error"]["message"].get<std::string>().find("unknown placement 'nearest'"), std::string::npos) << r3.dump();
  auto [s4, r4] = post("/v1/actors", Json{{"manifest", counter}, {"node", "local"}, {"placement", "spread"}}.dump());
  EXPECT_EQ(s4, 400) << r4.dump();
  auto [s5, r5] = post("/v1/actors", Json{{"manifest", counter}, {"node", 3}}.dump());
  EXPECT_EQ(s5, 400) << r5.dump();

  auto [ls, list] = get("/v1/actors");
  ASSERT_EQ(list["actors"].size(), 4u) << list.dump();
  for (const auto& a : list["actors"]) EXPECT_EQ(a["node"], "local") << a.dump();
  EXPECT_EQ(get("/v1/actors/" + r1["id"].get<std::string>()).second["node"], "local");
  EXPECT_EQ(get("/v1/tree").second["children"][0]["node"], "local");
  auto [is, info] = get("/v1/server");
  EXPECT_EQ(info["node"], "local");
  EXPECT_TRUE(info["cluster"].is_null());
}

TEST_F(ServerTest, SendAndRequestCarryTextAndBinary) {
  const std::string counter = start("counter");
  const std::string echo = start("echo");
  auto [s1, r1] = post("/v1/actors/" + counter + "/send", R"({"message":"inc"})");
  EXPECT_EQ(s1, 200) << r1.dump();
  EXPECT_EQ(r1["sent"], true);
  auto [s2, r2] = post("/v1/actors/" + counter + "/request", R"({"message":"get","timeout_ms":5000})");
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(r2["reply"], "1");
  EXPECT_EQ(r2["reply_encoding"], "utf8");
  const std::string binary("\xff\x00\x01zz", 5);
  auto [s3, r3] = post("/v1/actors/" + echo + "/request",
                       Json{{"message", base64_encode(binary)}, {"message_encoding", "base64"}}.dump());
  ASSERT_EQ(s3, 200) << r3.dump();
  EXPECT_EQ(r3["reply_encoding"], "base64");
  EXPECT_EQ(base64_decode(r3["reply"].get<std::string>()), binary);
}

TEST_F(ServerTest, RestartAndStop) {
  const std::string id = start("counter");
  ASSERT_EQ(runtime->send(id, "add 5"), abi::kOk);
  auto [s1, r1] = post("/v1/actors/" + id + "/restart", "");
  ASSERT_EQ(s1, 200) << r1.dump();
  EXPECT_EQ(r1["restarts"], 1);
  EXPECT_EQ(runtime->request(id, "get").reply, "5");  // committed state kept
  auto [s2, r2] = post("/v1/actors/" + id + "/stop", "{}");
  ASSERT_EQ(s2, 200) << r2.dump();
  EXPECT_EQ(r2["stopped"], true);
  auto [s3, r3] = get("/v1/actors/" + id);
  EXPECT_EQ(s3, 404);
  EXPECT_EQ(r3["error"]["code"], "ENOTFOUND");
  const std::string id2 = start("echo");
  auto r4 = client()->Delete("/v1/actors/" + id2);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->status, 200);
  EXPECT_TRUE(runtime->list().empty());
  // The metrics know a client asked for that restart.
  auto m = client()->Get("/metrics");
  EXPECT_NE(m->body.find("theater_restarts_total{kind=\"manual\"} 1"), std::string::npos);
}

TEST_F(ServerTest, MalformedBodiesGetA400ThatNamesTheProblem) {
  const std::string id = start("echo");
  const std::string send = "/v1/actors/" + id + "/send";
  const std::string req = "/v1/actors/" + id + "/request";
  const std::tuple<std::string, std::string, std::string> cases[] = {
      {send, "{", "not valid JSON"},
      {send, "[1,2]", "must be a JSON object, not array"},
      {send, "\"hi\"", "must be a JSON object, not string"},
      {send, R"({"message":"x","mesage":"y"})", "unknown field 'mesage' (known fields: message, message_encoding)"},
      {send, R"({"message":42})", "field 'message' must be a string, not number"},
      {send, R"({})", "missing field 'message'"},
      {send, R"({"message":"@@@","message_encoding":"base64"})", "field 'message' is not valid base64"},
      {send, R"({"message":"x","message_encoding":"rot13"})", "must be \"utf8\" or \"base64\""},
      {req, R"({"message":"x","timeout_ms":0})", "'timeout_ms' must be between"},
      {req, R"({"message":"x","timeout_ms":1.5})", "field 'timeout_ms' must be an integer"},
      {"/v1/actors", R"({})", "give exactly one of 'manifest'"},
      {"/v1/actors", R"({"manifest":"/nonexistent.toml"})", "no manifest file '/nonexistent.toml'"},
      {"/v1/actors", R"({"manifest_toml":"name = \"x\"\ncomponent = \"echo.wasm\"\nhandlerz = []"})", "handlerz"},
      {"/v1/actors/" + id + "/restart", R"({"now":true})", "unknown field 'now': this endpoint takes no body"},
      {"/v1/actors/" + id + "/upgrade", R"({})", "give exactly one of 'component'"},
  };
  for (const auto& [path, body, expect] : cases) {
    auto [status, r] = post(path, body);
    EXPECT_EQ(status, 400) << path << " " << body;
    const std::string message = r["error"]["message"].is_string() ? r["error"]["message"].get<std::string>() : r.dump();
    EXPECT_NE(message.find(expect), std::string::npos) << body << " -> " << message;
  }
  auto [qs, q] = get("/v1/actors/" + id + "/events?limit=ten");
  EXPECT_EQ(qs, 400);
  // Over the body limit: refused before parsing.
  auto big = client()->Post(send, std::string(2 << 20, 'x'), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  // The actor saw none of it.
  ASSERT_TRUE(runtime->wait_idle(5s));
  EXPECT_TRUE(runtime->find(id)->event_history().size() < 4);
  EXPECT_EQ(runtime->request(id, "still here").reply, "still here");
}

TEST_F(ServerTest, ErrorsOfTheRuntimeMapToStatusesAndCodes) {
  auto [s1, r1] = post("/v1/actors/nobody-000000000000/send", R"({"message":"x"})");
  EXPECT_EQ(s1, 404);
  EXPECT_EQ(r1["error"]["code"], "ENOTFOUND");
  auto [s2, r2] = get("/v1/actors/nobody-000000000000");
  EXPECT_EQ(s2, 404);
  auto [s3, r3] = post("/v1/actors/runtime/stop", "");
  EXPECT_EQ(s3, 404);  // the root is not an actor a client can stop
  const std::string crasher = start("crasher");
  auto [s4, r4] = post("/v1/actors/" + crasher + "/request", R"({"message":"trap"})");
  EXPECT_EQ(s4, 502);
  EXPECT_EQ(r4["error"]["code"], "EFAILED");
  auto [s5, r5] = post("/v1/actors/" + crasher + "/request", R"({"message":"loop","timeout_ms":200})");
  EXPECT_EQ(s5, 504);
  EXPECT_EQ(r5["error"]["code"], "ETIMEOUT");
  auto [s6, r6] = get("/v1/no/such/route");
  EXPECT_EQ(s6, 404);
  EXPECT_EQ(r6["error"]["code"], "no_route");
  // A manifest whose module is not there: a clear 422 that names it.
  const std::string toml = "name = \"ghost\"\ncomponent = \"ghost.wasm\"\n";
  auto [s7, r7] = post("/v1/actors", Json{{"manifest_toml", toml}, {"base_dir", "/tmp"}}.dump());
  EXPECT_EQ(s7, 422);
  EXPECT_NE(r7["error"]["message"].get<std::string>().find("ghost.wasm"), std::string::npos) << r7.dump();
}

TEST_F(ServerTest, EventsLogsVerifyUpgrade) {
  const std::string crasher = start("crasher");
  post("/v1/actors/" + crasher + "/request", R"({"message":"trap"})");
  ASSERT_TRUE(runtime->wait_idle(5s));
  auto [s1, r1] = get("/v1/actors/" + crasher + "/events");
  ASSERT_EQ(s1, 200);
  std::vector<std::string> types;
  for (const auto& e : r1["events"]) types.push_back(e["type"]);
  EXPECT_NE(std::find(types.begin(), types.end(), "failed"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "restarted"), types.end());
  EXPECT_TRUE(r1["stream_cursor"].is_number());
  auto [s2, r2] = get("/v1/actors/" + crasher + "/events?type=failed&limit=1");
  ASSERT_EQ(r2["events"].size(), 1u);
  EXPECT_EQ(r2["events"][0]["type"], "failed");
  auto [s3, r3] = get("/v1/actors/" + crasher + "/logs");
  ASSERT_EQ(s3, 200);
  ASSERT_FALSE(r3["events"].empty());
  EXPECT_NE(r3["events"][0]["detail"].get<std::string>().find("restarted; handled"), std::string::npos);
  // This runtime has no data directory, so no chain to verify: it says so, clearly.
  auto [s4, r4] = get("/v1/actors/" + crasher + "/verify");
  EXPECT_EQ(s4, 501);
  EXPECT_EQ(r4["error"]["code"], "not_implemented");
  // An upgrade to a module that cannot load is refused and rolled back; the actor still answers.
  auto [s5, r5] = post("/v1/actors/" + crasher + "/upgrade", R"({"component":"/x.wasm"})");
  EXPECT_EQ(s5, 409);
  EXPECT_EQ(r5["error"]["code"], "upgrade_failed");
  EXPECT_EQ(runtime->request(crasher, "hello").rc, abi::kOk);
  // A real one: same id, the new code handles the next message.
  const Json upgrade{{"component", std::string(THEATER_EXAMPLES_DIR) + "/crasher.wasm"}};
  auto [s7, r7] = post("/v1/actors/" + crasher + "/upgrade", upgrade.dump());
  EXPECT_EQ(s7, 200) << r7.dump();
  EXPECT_EQ(r7["upgraded"], true);
  EXPECT_EQ(runtime->request(crasher, "hello").rc, abi::kOk);
  auto [s6, r6] = get("/v1/actors/nobody/verify");
  EXPECT_EQ(s6, 404);
}

// Reads SSE frames from /v1/stream until `until` returns true for an event (or time runs out).
std::vector<Json> read_stream(httplib::Client& c, const std::string& path, const httplib::Headers& headers,
                              const std::function<bool(const Json&)>& until, std::chrono::seconds limit = 20s) {
  std::vector<Json> got;
  std::string buf;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  c.set_read_timeout(std::chrono::seconds(1));
  for (int attempt = 0; attempt < 1 && std::chrono::steady_clock::now() < deadline; ++attempt) {
    c.Get(path, headers, [&](const char* data, size_t len) {
      buf.append(data, len);
      size_t end;
      while ((end = buf.find("\n\n")) != std::string::npos) {
        std::string frame = buf.substr(0, end);
        buf.erase(0, end + 2);
        auto pos = frame.find("data: ");
        if (pos == std::string::npos) continue;
        got.push_back(Json::parse(frame.substr(pos + 6, frame.find('\n', pos) - pos - 6)));
        if (until(got.back())) return false;
      }
      return std::chrono::steady_clock::now() < deadline;
    });
  }
  return got;
}

TEST_F(ServerTest, StreamFollowsOneActorLiveAndResumesAfterLastEventId) {
  const std::string crasher = start("crasher");
  const std::string echo = start("echo");
  std::thread trigger([&] {
    std::this_thread::sleep_for(300ms);
    runtime->send(echo, "noise");
    runtime->send(crasher, "trap");
  });
  auto c = client();
  auto got = read_stream(*c, "/v1/stream?actor=" + crasher, {},
                         [](const Json& e) { return e["type"] == "restarted"; });
  trigger.join();
  ASSERT_FALSE(got.empty());
  for (const auto& e : got) EXPECT_EQ(e["actor"], crasher) << e.dump();
  EXPECT_EQ(got.front()["type"], "failed");
  EXPECT_EQ(got.back()["type"], "restarted");
  // Reconnecting with Last-Event-ID replays what came after it, and only that.
  const uint64_t first = got.front()["id"];
  auto again = read_stream(*c, "/v1/stream?actor=" + crasher, {{"Last-Event-ID", std::to_string(first)}},
                           [](const Json& e) { return e["type"] == "restarted"; });
  ASSERT_EQ(again.size(), got.size() - 1);
  EXPECT_EQ(again.front()["id"], got[1]["id"]);
  // Type filter, whole tree.
  auto failed = read_stream(*c, "/v1/stream?since=0&types=failed", {}, [](const Json&) { return true; });
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]["type"], "failed");
  auto [s, r] = get("/v1/stream?actor=nobody");
  EXPECT_EQ(s, 404);
}

class SmallServerTest : public ServerTest {
  void configure(server::ServerConfig& sc) override { sc.max_streams = 2; }
};

TEST_F(SmallServerTest, StreamsAreBoundedAndStopEndsThem) {
  std::atomic<int> open{0};
  std::vector<std::thread> followers;
  for (int i = 0; i < 2; ++i) {
    followers.emplace_back([&] {
      auto c = client();
      c->set_read_timeout(std::chrono::seconds(30));
      c->Get("/v1/stream", [&](const char*, size_t) {
        ++open;
        return true;
      });
    });
  }
  for (int i = 0; i < 200 && open < 2; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(open.load(), 2);
  auto [s, r] = get("/v1/stream");
  EXPECT_EQ(s, 503);
  EXPECT_EQ(r["error"]["code"], "too_many_streams");
  const auto t0 = std::chrono::steady_clock::now();
  srv->stop();  // graceful: streams end, the followers return
  for (auto& t : followers) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(ServerTest, MetricsAreValidPrometheusText) {
  const std::string crasher = start("crasher");
  post("/v1/actors/" + crasher + "/request", R"({"message":"hello"})");
  post("/v1/actors/" + crasher + "/request", R"({"message":"trap"})");
  ASSERT_TRUE(runtime->wait_idle(5s));
  auto r = client()->Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = r->body;
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eE]+(Inf)?$)");
  std::istringstream lines(text);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
    ++samples;
  }
  EXPECT_GT(samples, 30);
  for (const char* want : {"theater_actors{state=\"running\"} 1", "theater_failures_total{kind=\"trap\"} 1",
                           "theater_restarts_total{kind=\"trap\"} 1", "theater_handler_duration_seconds_bucket{le=\"+Inf\"}",
                           "theater_handler_duration_seconds_count", "theater_messages_sent_total",
                           "theater_messages_handled_total", "theater_mailbox_depth{actor=\"" ,
                           "theater_chain_events_total{type=\"failed\"} 1", "theater_compile_cache_hits_total",
                           "# TYPE theater_handler_duration_seconds histogram"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want;
  }
}

TEST_F(ServerTest, DashboardLoginSetsACookieThatOpensPagesButNotForeignPosts) {
  auto c = client(false);
  auto page = c->Get("/", {{"Accept", "text/html"}});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 401);
  EXPECT_NE(page->body.find("theater server"), std::string::npos);
  auto bad = c->Get("/?token=nope");
  EXPECT_EQ(bad->status, 401);
  auto login = c->Get("/?token=" + srv->token());
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 303);
  EXPECT_EQ(login->get_header_value("Location"), "/");
  const std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  const std::string pair = cookie.substr(0, cookie.find(';'));
  auto ok = c->Get("/", {{"Cookie", pair}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find("<html"), std::string::npos);
  EXPECT_EQ(c->Get("/app.js", {{"Cookie", pair}})->status, 200);
  EXPECT_EQ(c->Get("/v1/actors", {{"Cookie", pair}})->status, 200);
  const std::string echo = start("echo");
  const std::string host = "127.0.0.1:" + std::to_string(srv->port());
  auto same = c->Post("/v1/actors/" + echo + "/send", {{"Cookie", pair}, {"Origin", "http://" + host}},
                      R"({"message":"hi"})", "application/json");
  EXPECT_EQ(same->status, 200);
  auto foreign = c->Post("/v1/actors/" + echo + "/send", {{"Cookie", pair}, {"Origin", "http://evil.example"}},
                         R"({"message":"hi"})", "application/json");
  EXPECT_EQ(foreign->status, 401);
}

// Writes raw bytes to the server and returns what it answered (possibly nothing).
std::string raw_exchange(int port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST_F(ServerTest, GarbageOnTheSocketCannotCrashTheServer) {
  const std::string echo = start("echo");
  const std::string auth = "Authorization: Bearer " + srv->token() + "\r\n";
  const std::string garbage[] = {
      std::string("\x00\x01\x02\xff\xfe", 5),
      "GET\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "POST /v1/actors/" + echo + "/send HTTP/1.1\r\n" + auth + "Content-Length: 99999999999999999999\r\n\r\n{}",
      "POST /v1/actors/" + echo + "/send HTTP/1.1\r\n" + auth + "Content-Length: -5\r\n\r\n",
      "POST /v1/actors/" + echo + "/send HTTP/1.1\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET /v1/actors/%ZZ%00 HTTP/1.1\r\n" + auth + "\r\n",
      "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\n" + std::string(20000, 'X') + ": y\r\n\r\n",
      "POST /v1/actors/" + echo + "/request HTTP/1.1\r\n" + auth +
          "Content-Length: 40\r\n\r\n{\"message\":\"\\ud800\\udc00\xff\xfe\"}    ",
  };
  for (const auto& g : garbage) raw_exchange(srv->port(), g);
  // Deep nesting inside the size limit: refused with a 400, not a stack overflow.
  for (const std::string& deep : {std::string(400000, '[') + std::string(400000, ']'),
                                  [] {
                                    std::string s;
                                    for (int i = 0; i < 100000; ++i) s += "{\"a\":";
                                    return s + "1" + std::string(100000, '}');
                                  }()}) {
    auto [status, body] = post("/v1/actors/" + echo + "/send", deep);
    EXPECT_EQ(status, 400) << body.dump().substr(0, 200);
  }
  auto [s, r] = post("/v1/actors/" + echo + "/request", R"({"message":"alive"})");
  EXPECT_EQ(s, 200);
  EXPECT_EQ(r["reply"], "alive");
}

TEST_F(ServerTest, LoadManyClientsSendingAndRequestingLoseNothing) {
  // A counter with a small mailbox so that EFULL really happens; an echo for requests.
  const std::string toml =
      "name = \"counter\"\ncomponent = \"counter.wasm\"\nhandlers = [\"message-server\"]\n[limits]\nmailbox = 32\n";
  auto [s, r] = post("/v1/actors", Json{{"manifest_toml", toml}, {"base_dir", THEATER_EXAMPLES_DIR}}.dump());
  ASSERT_EQ(s, 201) << r.dump();
  const std::string counter = r["id"];
  const std::string echo = start("echo");
  constexpr int kClients = 12;
  const auto until = std::chrono::steady_clock::now() + 3s;
  std::atomic<uint64_t> accepted{0}, full{0}, replies{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      auto c = client();
      c->set_keep_alive(true);
      for (int n = 0; std::chrono::steady_clock::now() < until && n < 100000; ++n) {
        if (i % 2 == 0) {
          auto res = c->Post("/v1/actors/" + counter + "/send", R"({"message":"inc"})", "application/json");
          if (res && res->status == 200) {
            ++accepted;
          } else if (res && res->status == 429 && res->body.find("EFULL") != std::string::npos) {
            ++full;
          } else {
            ++other;
          }
        } else {
          const std::string msg = "m-" + std::to_string(i) + "-" + std::to_string(n);
          auto res = c->Post("/v1/actors/" + echo + "/request", Json{{"message", msg}}.dump(), "application/json");
          if (res && res->status == 200 && Json::parse(res->body)["reply"] == msg) {
            ++replies;
          } else {
            ++other;
          }
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0u);
  EXPECT_GT(accepted.load(), 100u);
  EXPECT_GT(replies.load(), 100u);
  ASSERT_TRUE(runtime->wait_idle(20s));
  // Every accepted send was handled exactly once.
  EXPECT_EQ(runtime->request(counter, "get").reply, std::to_string(accepted.load()));
  std::printf("load: %llu sends accepted, %llu EFULL, %llu requests answered\n",
              static_cast<unsigned long long>(accepted.load()), static_cast<unsigned long long>(full.load()),
              static_cast<unsigned long long>(replies.load()));
}

}  // namespace theater::test
