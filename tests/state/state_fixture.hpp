#pragma once
// Durable-state tests: a fresh data dir per test, runtimes on it, and the `theater` command run
// as a child process (support/child_process.hpp).

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <sqlite3.h>

#include "../runtime/runtime_fixture.hpp"
#include "support/child_process.hpp"

namespace theater::test {

inline std::string theater_binary() { return std::string(THEATER_BUILD_DIR) + "/theater"; }

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
      if (c && c->manifest().name == name) return c;
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
