// Supervision conformance with Erlang/OTP, table-driven. Each file in tests/supervision/scenarios/
// is one failure pattern: a tree (with "$S" for the strategy and "$R" for a restart type), steps,
// and for every variant (strategy x restart type) the trace and final tree that OTP's supervisor
// produces ("expect"), plus, where Theater deliberately differs, what Theater does instead and
// why ("theater"). tests/supervision/otp_scenarios runs the same files on OTP.
//
//   SupervisionConformance.Scenario/<pattern>_<strategy>_<restart>: one scenario on the runtime,
//       against the file (OTP's outcome unless a difference is documented)
//   SupervisionConformance.SameDecisionsAsOtp: runs otp_scenarios (escript) and every scenario on
//       the runtime, and compares the two directly; skipped when escript is missing
//
// On the Theater side every node is the sv_node test actor (tests/actors/sv_node.c): a node with
// children is a supervisor through [[children]] and [supervision] in a manifest written for it.
// The runtime's events become the normalized trace (words as in otp_scenarios):
//   started/restarted -> start X (first time the name starts) or restart X
//   failed            -> fail X (not when the failure is the escalation just recorded)
//   exited            -> exit X
//   terminated, stopped, killed -> stop X, when X was running
//   escalated         -> escalate X
//   log "mark T"      -> mark X T
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "actor/runtime.hpp"
#include "base/files.hpp"
#include "base/process.hpp"
#include "base/sha256.hpp"

namespace theater::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

struct Expectation {
  std::string trace, tree;
  bool operator==(const Expectation&) const = default;
};

struct Scenario {
  std::string pattern;
  std::string variant;  // "<strategy> <restart type>"
  json tree;            // with the variant's strategy and restart type filled in
  json steps;
  Expectation otp;                     // the file's "expect": what OTP does
  std::optional<Expectation> theater;  // the file's "theater": where Theater deliberately differs
  std::string why;

  std::string label() const {
    std::string v = variant;
    std::replace(v.begin(), v.end(), ' ', '_');
    return pattern + "_" + v;
  }
  const Expectation& for_theater() const { return theater ? *theater : otp; }
};

// gtest prints a failing parameter with this, not as bytes.
void PrintTo(const Scenario& s, std::ostream* os) { *os << s.label(); }

struct Result {
  std::string start;  // trace of the initial start
  Expectation got;    // trace of the steps and the final running tree
  std::vector<std::string> problems;  // actors left behind
};

std::filesystem::path scenario_dir() {
  return std::filesystem::path(THEATER_SOURCE_DIR) / "tests" / "supervision" / "scenarios";
}

json fill(json node, const std::string& strategy, const std::string& restart) {
  if (node.is_object() || node.is_array()) {
    for (auto& v : node) v = fill(v, strategy, restart);
  } else if (node == "$S") {
    node = strategy;
  } else if (node == "$R") {
    node = restart;
  }
  return node;
}

Expectation expectation(const json& j) { return {j.at("trace"), j.at("tree")}; }

std::vector<Scenario> load_scenarios() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(scenario_dir())) {
    if (e.path().extension() == ".json") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Scenario> out;
  for (const auto& f : files) {
    const json s = json::parse(read_file_text(f));
    std::vector<std::string> variants;
    if (s.contains("variants")) {
      variants = s["variants"].get<std::vector<std::string>>();
    } else {
      for (auto st : {"one_for_one", "one_for_all", "rest_for_one"}) {
        for (auto r : {"permanent", "transient", "temporary"}) variants.push_back(fmt::format("{} {}", st, r));
      }
    }
    for (const auto& v : variants) {
      Scenario sc;
      sc.pattern = s.at("pattern");
      sc.variant = v;
      const auto space = v.find(' ');
      sc.tree = fill(s.at("tree"), v.substr(0, space), v.substr(space + 1));
      sc.steps = fill(s.at("steps"), v.substr(0, space), v.substr(space + 1));
      if (s.at("expect").contains(v)) sc.otp = expectation(s["expect"][v]);
      if (s.contains("theater") && s["theater"].contains(v)) {
        sc.theater = expectation(s["theater"][v]);
        sc.why = s["theater"][v].at("why");
      }
      out.push_back(std::move(sc));
    }
  }
  return out;
}

bool is_supervisor(const json& node) { return node.contains("children"); }

void each_node(const json& node, const std::function<void(const json&)>& fn) {
  fn(node);
  for (const auto& c : node.value("children", json::array())) each_node(c, fn);
}

std::string blob_ref(const std::string& content) { return "sha256:" + sha256_hex(content); }

// The switches sv_node reads at each init: blobs the steps put in the store.
std::string init_fail_switch(const std::string& node) { return "init_fail " + node; }
std::string slow_init_switch(const std::string& node) { return "slow_init " + node; }

// A node's manifest: sv_node by absolute path, its switches, children by file name.
std::string manifest_text(const json& node, int slow_init_ms) {
  const auto wasm = std::filesystem::path(THEATER_EXAMPLES_DIR) / "sv_node.wasm";
  const std::string name = node.at("name");
  std::string m = fmt::format(
      "name = \"{}\"\ncomponent = \"{}\"\nhandlers = [\"message-server\", \"supervisor\", \"store\"]\n"
      "restart = \"{}\"\n\n[environment]\nSV_INIT_FAIL = \"{}\"\nSV_SLOW_INIT = \"{}\"\n"
      "SV_SLOW_INIT_MS = \"{}\"\n",
      name, wasm.string(), node.value("restart", "permanent"), blob_ref(init_fail_switch(name)),
      blob_ref(slow_init_switch(name)), slow_init_ms);
  if (is_supervisor(node)) {
    m += fmt::format("\n[supervision]\nstrategy = \"{}\"\nmax_restarts = {}\nwithin_ms = {}\n",
                     std::string(node.at("strategy")), int(node.at("max_restarts")), int(node.at("within_ms")));
    for (const auto& c : node["children"]) {
      m += fmt::format("\n[[children]]\nmanifest = \"{}.toml\"\n", std::string(c.at("name")));
    }
  }
  return m;
}

void write_manifests(const Scenario& sc, const std::filesystem::path& dir) {
  std::map<std::string, int> slow_ms;
  for (const auto& step : sc.steps) {
    if (step.at("do") == "slow_init") slow_ms[step.at("node")] = step.at("ms");
  }
  each_node(sc.tree, [&](const json& node) {
    const std::string name = node.at("name");
    write_file_atomic(dir / (name + ".toml"), manifest_text(node, slow_ms.count(name) ? slow_ms[name] : 0));
  });
}

// Turns runtime events into the normalized trace, in the order they were recorded.
class Tracer {
 public:
  void on_event(const Event& e) {
    std::lock_guard lock(mutex_);
    const std::string& x = e.name;
    auto stop_if_running = [&] {
      if (running_[x]) add("stop " + x);
      running_[x] = false;
    };
    if (e.type == "started" || e.type == "restarted") {
      add((seen_.insert(x).second ? "start " : "restart ") + x);
      running_[x] = true;
    } else if (e.type == "failed") {
      // An escalating supervisor fails right after its "escalated": one event on both sides.
      if (e.detail.rfind("escalated:", 0) != 0) add("fail " + x);
      running_[x] = false;
    } else if (e.type == "exited") {
      add("exit " + x);
      running_[x] = false;
    } else if (e.type == "terminated" || e.type == "stopped" || e.type == "killed") {
      stop_if_running();
    } else if (e.type == "escalated") {
      add("escalate " + x);
    } else if (e.type == "log" && e.detail.rfind("[info] mark ", 0) == 0) {
      add("mark " + x + " " + e.detail.substr(12));
    }
  }
  std::string take() {
    std::lock_guard lock(mutex_);
    auto s = fmt::format("{}", fmt::join(trace_, ", "));
    trace_.clear();
    return s;
  }

 private:
  void add(std::string s) { trace_.push_back(std::move(s)); }
  std::mutex mutex_;
  std::vector<std::string> trace_;
  std::set<std::string> seen_;
  std::map<std::string, bool> running_;
};

class ScenarioRun {
 public:
  explicit ScenarioRun(const Scenario& sc) : sc_(sc) {
    dir_ = std::filesystem::temp_directory_path() /
           fmt::format("theater-sv-{}-{}", ::getpid(), sc.label());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    write_manifests(sc, dir_);
    RuntimeConfig config;
    config.engine.tier = engine::Tier::Aot;
    config.workers = 2;
    config.root_supervision.max_restarts = 0;  // nobody restarts the top (as in the OTP driver)
    runtime_ = std::make_unique<Runtime>(config);
    runtime_->observe([this](const Event& e) { tracer_.on_event(e); });
  }
  ~ScenarioRun() {
    runtime_.reset();
    std::filesystem::remove_all(dir_);
  }

  Result run() {
    Result r;
    try {
      runtime_->spawn(load_manifest(dir_ / (std::string(sc_.tree.at("name")) + ".toml")));
    } catch (const std::exception& e) {
      r.problems.push_back(fmt::format("spawn: {}", e.what()));
      return r;
    }
    settle();
    r.start = tracer_.take();
    for (const auto& step : sc_.steps) do_step(step);
    settle();
    r.got.trace = tracer_.take();
    size_t shown = 0;
    r.got.tree = tree_string(shown);
    // No orphans: every actor still registered is running and part of the tree.
    const auto all = runtime_->list();
    for (const auto& a : all) {
      if (a.status != ActorStatus::Running) {
        r.problems.push_back(fmt::format("{} ({}) is left {}", a.name, a.id, to_string(a.status)));
      }
    }
    if (all.size() != shown) {
      r.problems.push_back(fmt::format("{} actors registered, {} in the running tree", all.size(), shown));
    }
    return r;
  }

 private:
  void settle() {
    if (!runtime_->wait_idle(20s)) ADD_FAILURE() << sc_.label() << ": the runtime did not settle";
  }

  // The running actor of that name (names are unique in a scenario), or "".
  std::string id_of(const std::string& name) {
    for (const auto& a : runtime_->list()) {
      if (a.name == name && a.status == ActorStatus::Running) return a.id;
    }
    return "";
  }

  void do_step(const json& step) {
    const std::string what = step.at("do");
    const std::string node = step.value("node", "");
    const int ms = step.value("ms", 0);
    const std::string id = node.empty() ? "" : id_of(node);
    if (what == "crash" || what == "exit" || what == "mark") {
      const std::string msg = what == "mark" ? "mark " + std::string(step.at("tag")) : what;
      if (!id.empty()) runtime_->send(id, msg);
    } else if (what == "busy") {
      if (!id.empty()) runtime_->send(id, fmt::format("busy {}", ms));
      std::this_thread::sleep_for(50ms);  // they are busy when the next step comes
      return;
    } else if (what == "init_fail") {
      runtime_->blobs().put(init_fail_switch(node));
      return;
    } else if (what == "slow_init") {
      runtime_->blobs().put(slow_init_switch(node));
      return;
    } else if (what == "sleep") {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return;
    } else if (what == "stop") {
      if (!id.empty()) runtime_->stop(id);
    } else if (what == "spawn") {
      // A child added at run time, through the ABI (sv_node calls spawn).
      const std::string parent = id_of(step.at("parent"));
      if (!parent.empty()) {
        auto r = runtime_->request(parent, "spawn " + manifest_text(step.at("child"), 0), 10s);
        EXPECT_EQ(r.rc, abi::kOk) << "spawn";
        EXPECT_EQ(r.reply.find('-'), std::string(step["child"].at("name")).size()) << "spawn: " << r.reply;
      }
    } else {
      ADD_FAILURE() << "unknown step " << what;
    }
    if (step.value("wait", true)) settle();
  }

  std::string tree_string(size_t& shown) {
    for (const auto& top : runtime_->top_level()) {
      auto a = runtime_->find(top);
      if (a && a->status() == ActorStatus::Running) return node_string(*a, shown);
    }
    return "-";
  }

  std::string node_string(Actor& a, size_t& shown) {
    ++shown;
    if (a.manifest().children.empty()) return a.manifest().name;
    std::vector<std::string> kids;
    for (const auto& id : a.children()) {
      auto c = runtime_->find(id);
      if (c && c->status() == ActorStatus::Running) kids.push_back(node_string(*c, shown));
    }
    return fmt::format("{}({})", a.manifest().name, fmt::join(kids, " "));
  }

  const Scenario& sc_;
  std::filesystem::path dir_;
  Tracer tracer_;
  std::unique_ptr<Runtime> runtime_;
};

std::string expected_start(const json& tree) {
  std::vector<std::string> names;
  each_node(tree, [&](const json& n) { names.push_back("start " + std::string(n.at("name"))); });
  return fmt::format("{}", fmt::join(names, ", "));
}

void expect_result(const Scenario& sc, const Result& r, const Expectation& want) {
  EXPECT_EQ(r.start, expected_start(sc.tree)) << sc.label() << ": the initial start";
  EXPECT_EQ(r.got.trace, want.trace) << sc.label() << (sc.theater ? " (documented difference: " + sc.why + ")" : "");
  EXPECT_EQ(r.got.tree, want.tree) << sc.label();
  for (const auto& p : r.problems) ADD_FAILURE() << sc.label() << ": " << p;
}

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = load_scenarios();
  return all;
}

class SupervisionConformance : public ::testing::TestWithParam<Scenario> {};

TEST_P(SupervisionConformance, Scenario) {
  const Scenario& sc = GetParam();
  ASSERT_FALSE(sc.otp.trace.empty() && sc.otp.tree.empty()) << sc.label() << ": no expectation in the file";
  ScenarioRun run(sc);
  expect_result(sc, run.run(), sc.for_theater());
}

INSTANTIATE_TEST_SUITE_P(Otp, SupervisionConformance, ::testing::ValuesIn(scenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& info) { return info.param.label(); });

// OTP and Theater side by side: the same decisions and the same final trees, except where the
// scenario file documents a deliberate difference (then each must do what the file says).
TEST(SupervisionOtp, SameDecisionsAsOtp) {
  const std::string escript = find_program("escript");
  if (escript.empty()) {
    GTEST_SKIP() << "escript not found (Debian: apt-get install erlang-base): the OTP side of the "
                    "supervision conformance suite was not run";
  }
  auto otp_run = run_process({escript, (scenario_dir().parent_path() / "otp_scenarios").string(), "--json"});
  ASSERT_EQ(otp_run.exit_code, 0) << otp_run.output;
  std::map<std::string, Result> otp;
  std::istringstream lines(otp_run.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;  // progress lines on stderr
    const json j = json::parse(line);
    otp[std::string(j["pattern"]) + "/" + std::string(j["variant"])] = {j["start"], {j["trace"], j["tree"]}, {}};
  }
  size_t same = 0, documented = 0, failed = 0;
  std::string table;
  for (const auto& sc : scenarios()) {
    const auto it = otp.find(sc.pattern + "/" + sc.variant);
    ASSERT_NE(it, otp.end()) << "OTP printed nothing for " << sc.label();
    const Result& o = it->second;
    ScenarioRun run(sc);
    const Result t = run.run();
    bool ok = t.problems.empty() && t.start == o.start;
    std::string verdict;
    if (sc.theater) {
      ok = ok && o.got == sc.otp && t.got == *sc.theater;
      verdict = ok ? "documented difference" : "DIFFERS FROM THE FILE";
      documented += ok;
    } else {
      ok = ok && o.got == t.got && o.got == sc.otp;
      verdict = ok ? "same" : "MISMATCH";
      same += ok;
    }
    failed += !ok;
    table += fmt::format("{:<22} {:<24} {}\n", sc.pattern, sc.variant, verdict);
    if (!ok) {
      ADD_FAILURE() << sc.label() << ":\n  OTP:     " << o.got.trace << "  =>  " << o.got.tree
                    << "\n  Theater: " << t.got.trace << "  =>  " << t.got.tree
                    << (t.problems.empty() ? "" : "\n  Theater problems: " + fmt::format("{}", fmt::join(t.problems, "; ")));
    }
  }
  std::cout << table
            << fmt::format("{} scenarios: {} the same on OTP and Theater, {} documented differences, {} failed\n",
                           scenarios().size(), same, documented, failed);
}

}  // namespace
}  // namespace theater::test
