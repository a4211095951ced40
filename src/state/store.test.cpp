#include "state/store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <fmt/format.h>

#include "actor/message.hpp"
#include "state/manifest_json.hpp"

namespace theater::state {
namespace {

namespace fs = std::filesystem;

// A fresh data dir per test, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          fmt::format("theater-store-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }

  ActorRecord row(const std::string& id, const std::string& parent = "") {
    ActorRecord r;
    r.id = id;
    r.name = id.substr(0, id.find('-'));
    r.parent = parent;
    Manifest m;
    m.name = r.name;
    m.component = "x.wasm";
    r.manifest = manifest_to_json(m);
    r.module = "sha256:" + std::string(64, 'a');
    r.state = "0";
    return r;
  }
  void create(Store& s, const ActorRecord& r) {
    s.journal(r.id).created(r, r.state);
    s.put_actor(r);
  }

  fs::path dir;
};

TEST_F(StoreTest, ActorsAndTheirChainsSurviveAReopen) {
  {
    auto s = Store::open(dir);
    create(*s, row("a-1"));
    create(*s, row("b-1", "a-1"));
    auto& j = s->journal("a-1");
    Message m;
    m.from = "external";
    m.bytes = "inc";
    j.received(m);
    j.committed("1");
    j.replied("1");
    s->set_stopped("b-1");
  }
  auto s = Store::open(dir);
  auto all = s->actors();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "a-1");
  EXPECT_EQ(all[0].state, "1");
  EXPECT_EQ(all[1].parent, "a-1");
  EXPECT_TRUE(all[1].stopped);
  EXPECT_EQ(s->actors(false).size(), 1u);
  auto evs = s->events("a-1");
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[1].type, EventType::Received);
  EXPECT_EQ(evs[2].type, EventType::Committed);
  EXPECT_FALSE(s->verify("a-1")) << s->verify("a-1")->reason;
  // The chain goes on where it ended: seq 5 links to seq 4.
  s->journal("a-1").committed("2");
  s->flush();
  evs = s->events("a-1");
  ASSERT_EQ(evs.size(), 5u);
  EXPECT_EQ(evs[4].seq, 5u);
  EXPECT_FALSE(s->verify("a-1"));
  EXPECT_EQ(s->actor("a-1")->state, "2");
  // A second actor's order comes after the stored ones.
  create(*s, row("c-1"));
  s->flush();
  EXPECT_EQ(s->actor("c-1")->order, 3u);
}

TEST_F(StoreTest, OneWritingRuntimePerDataDir) {
  auto s = Store::open(dir);
  try {
    Store::open(dir);
    FAIL() << "a second writer must be refused";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("pid {}", ::getpid())), std::string::npos) << e.what();
  }
  // Readers are welcome.
  EXPECT_NO_THROW(Store::open_read_only(dir));
}

TEST_F(StoreTest, ResolvesNamesAndIds) {
  auto s = Store::open(dir);
  create(*s, row("counter-1"));
  create(*s, row("echo-1"));
  create(*s, row("echo-2"));
  s->flush();
  EXPECT_EQ(s->resolve_actor("counter-1"), "counter-1");
  EXPECT_EQ(s->resolve_actor("counter"), "counter-1");
  EXPECT_THROW(s->resolve_actor("echo"), StoreError);
  EXPECT_THROW(s->resolve_actor("nobody"), StoreError);
}

TEST_F(StoreTest, GroupCommitIsDurableWithinTheIntervalAndOnWait) {
  StoreOptions o;
  o.group_commit = std::chrono::milliseconds(50);
  auto s = Store::open(dir, o);
  create(*s, row("a-1"));
  const auto t = s->ticket();
  EXPECT_LT(s->durable(), t);
  s->wait_durable(t);  // kicks the writer: no 50 ms wait
  EXPECT_GE(s->durable(), t);
  s->journal("a-1").committed("9");
  const auto t2 = s->ticket();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GE(s->durable(), t2) << "a group is written within its interval";
}

TEST_F(StoreTest, SyncCommitReturnsOnceOnDisk) {
  StoreOptions o;
  o.durability = Durability::Sync;
  auto s = Store::open(dir, o);
  create(*s, row("a-1"));
  s->journal("a-1").committed("7");
  EXPECT_GE(s->durable(), s->ticket());
  // Another connection (another process would see the same) reads it.
  auto r = Store::open_read_only(dir);
  EXPECT_EQ(r->actor("a-1")->state, "7");
}

TEST_F(StoreTest, ManifestRoundTrips) {
  Manifest m;
  m.name = "w";
  m.component = "sha256:" + std::string(64, 'b');
  m.version = "2";
  m.handlers = {"timing", "store"};
  m.init_state = "/x/init.json";
  m.restart = RestartType::Transient;
  m.limits.memory_mb = 3;
  m.limits.hibernate_after_ms = 0;
  m.supervision.strategy = Strategy::RestForOne;
  m.supervision.on_failure = OnFailure::Custom;
  m.supervision.max_restarts = 9;
  m.children.push_back({"/x/c.toml", std::nullopt});
  m.children.push_back({"/x/d.toml", "/x/d.json"});
  m.environment = {{"A", "1"}, {"B", ""}};
  m.store_payloads = false;
  m.base_dir = "/x";
  m.source = "/x/w.toml";
  const Manifest back = manifest_from_json(manifest_to_json(m));
  EXPECT_EQ(manifest_to_json(back), manifest_to_json(m));
  EXPECT_EQ(back.limits.hibernate_after_ms, std::optional<uint32_t>(0));
  EXPECT_FALSE(back.store_payloads);
  EXPECT_EQ(back.children[1].init_state, std::optional<fs::path>("/x/d.json"));
  EXPECT_THROW(manifest_from_json("{}"), ManifestError);
}

}  // namespace
}  // namespace theater::state
