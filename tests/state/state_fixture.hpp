#pragma once
// Durable-state tests: a fresh data dir per test, runtimes on it, and the `theater` command run
// as a child process (posix_spawn, stdout read line by line, SIGKILL when the test says so).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <sqlite3.h>

#include "../runtime/runtime_fixture.hpp"

extern char** environ;

namespace theater::test {

inline std::string theater_binary() { return std::string(THEATER_BUILD_DIR) + "/theater"; }

// A running `theater ...` whose stdout (and stderr) the test reads line by line.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    args.insert(args.begin(), theater_binary());
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    kill();
    if (fd_ >= 0) ::close(fd_);
  }
  bool started() const { return pid_ > 0; }
  // The next line, or nullopt at the end of its output.
  std::optional<std::string> line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) {
        if (buf_.empty()) return std::nullopt;
        return std::exchange(buf_, {});
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait();
  }
  int wait() {
    if (pid_ <= 0) return status_;
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int status_ = -1;
  std::string buf_;
};

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          fmt::format("theater-state-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
  }
  void TearDown() override {
    runtime.reset();
    std::filesystem::remove_all(dir);
  }
  RuntimeConfig config(engine::Tier tier = engine::Tier::Aot) {
    RuntimeConfig c;
    c.engine.tier = tier;
    c.workers = 2;
    c.data_dir = dir;
    c.root_supervision.max_restarts = 100;
    return c;
  }
  std::unique_ptr<Runtime>& open(RuntimeConfig c) {
    runtime.reset();
    runtime = std::make_unique<Runtime>(std::move(c));
    return runtime;
  }
  Manifest example(const std::string& name) { return load_manifest(examples_dir() / (name + ".toml")); }
  std::string example_path(const std::string& name) { return (examples_dir() / (name + ".toml")).string(); }
  // The first live child of `parent` whose manifest is named `name`.
  std::shared_ptr<Actor> child_named(const std::string& parent, const std::string& name) {
    auto p = runtime->find(parent);
    if (!p) return nullptr;
    for (const auto& id : p->children()) {
      auto c = runtime->find(id);
      if (c && c->manifest.name == name) return c;
    }
    return nullptr;
  }
  void settle() { ASSERT_TRUE(runtime->wait_idle(std::chrono::seconds(20))); }

  // Edits an actor's stored events as someone with the file and the format could: decodes its
  // segments, lets `edit` change them, and writes them back as one segment (no hash recomputed
  // unless `edit` does it).
  void edit_events(const std::string& actor, const std::function<void(std::vector<state::StoredEvent>&)>& edit) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "theater.db").c_str(), &db), SQLITE_OK);
    std::vector<state::StoredEvent> events;
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT data FROM events WHERE actor = ? ORDER BY first_seq", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, actor.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(s) == SQLITE_ROW) {
      auto part = state::decode_segment({static_cast<const char*>(sqlite3_column_blob(s, 0)),
                                         static_cast<size_t>(sqlite3_column_bytes(s, 0))});
      events.insert(events.end(), part.begin(), part.end());
    }
    sqlite3_finalize(s);
    edit(events);
    std::string segment;
    for (const auto& e : events) state::append_record(segment, e);
    sqlite3_prepare_v2(db, "DELETE FROM events WHERE actor = ?", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, actor.c_str(), -1, SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db, "INSERT INTO events(actor, first_seq, last_seq, data) VALUES(?, ?, ?, ?)", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, actor.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, events.empty() ? 0 : static_cast<int64_t>(events.front().seq));
    sqlite3_bind_int64(s, 3, events.empty() ? 0 : static_cast<int64_t>(events.back().seq));
    sqlite3_bind_blob(s, 4, segment.data(), static_cast<int>(segment.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }

  std::filesystem::path dir;
  std::unique_ptr<Runtime> runtime;
};

}  // namespace theater::test
