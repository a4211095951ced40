#include "actor/manifest_table.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace theater {
namespace {

constexpr std::string_view kText = "name = \"a\"\ncomponent = \"a.wasm\"\n";

TEST(ManifestTable, EqualManifestsShareOneCopy) {
  ManifestTable table;
  const Manifest m = parse_manifest(kText, "/base", "a.toml");
  const Manifest* first = table.intern(m);
  EXPECT_NE(first, &m) << "the table keeps its own copy";
  EXPECT_EQ(*first, m);
  EXPECT_EQ(table.intern(Manifest(m)), first) << "an equal copy maps to the same entry";
  EXPECT_EQ(table.intern(*first), first) << "the table's own manifest is itself";
  EXPECT_EQ(table.size(), 1u);
}

TEST(ManifestTable, AnyDifferenceIsAnotherEntry) {
  ManifestTable table;
  Manifest m = parse_manifest(kText, "/base", "a.toml");
  const Manifest* a = table.intern(m);
  m.limits.mailbox += 1;  // same name, component and source: only a limit differs
  const Manifest* b = table.intern(m);
  EXPECT_NE(a, b);
  EXPECT_EQ(b->limits.mailbox, a->limits.mailbox + 1);
  EXPECT_EQ(a->limits.mailbox, parse_manifest(kText, "/base", "a.toml").limits.mailbox)
      << "an entry never changes: references to it stay right";
  EXPECT_EQ(table.size(), 2u);
}

TEST(ManifestTable, SpawnTextIsParsedOncePerFolder) {
  ManifestTable table;
  const Manifest* a = table.parse(std::string(kText), "/one");
  EXPECT_EQ(table.parse(std::string(kText), "/one"), a);
  const Manifest* b = table.parse(std::string(kText), "/two");
  EXPECT_NE(a, b) << "relative paths resolve against the spawner's folder";
  EXPECT_EQ(b->component_path, std::filesystem::path("/two/a.wasm"));
  EXPECT_THROW(table.parse("name = ", "/one"), ManifestError);
  EXPECT_THROW(table.parse("name = ", "/one"), ManifestError) << "an error is not remembered as a manifest";
  EXPECT_EQ(table.size(), 2u);
}

// Under ThreadSanitizer in CI: threads interning equal and different manifests at once.
TEST(ManifestTable, ConcurrentInternGivesOneEntryPerContent) {
  ManifestTable table;
  const Manifest base = parse_manifest(kText, "/base", "a.toml");
  constexpr int kThreads = 4, kRounds = 2000;
  std::vector<std::vector<const Manifest*>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        Manifest m = base;
        m.limits.mailbox = static_cast<uint32_t>(1 + i % 8);
        seen[t].push_back(table.intern(m));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(table.size(), 8u);
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t], seen[0]);
  for (int i = 0; i < kRounds; ++i) EXPECT_EQ(seen[0][i]->limits.mailbox, static_cast<uint32_t>(1 + i % 8));
}

}  // namespace
}  // namespace theater
