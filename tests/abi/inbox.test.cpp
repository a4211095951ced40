// theater_inbox (docs/abi-additions.md): handler arguments written into one buffer the actor gave,
// instead of a theater_alloc call per message; and its failures. On both engine tiers.
//
// The probe is hand-written WAT so that every call the runtime makes into it is counted. Each
// handler writes what it saw into its state (nine little-endian i32s, see Seen), and the test
// reads the committed state.
#include <cstring>

#include "../runtime/runtime_fixture.hpp"
#include "base/files.hpp"
#include "support/wat.hpp"

namespace theater::test {

namespace {

// Init state's first byte picks how theater_inbox behaves: 'n' normal, 'z' returns 0, 'o'
// returns a buffer past the end of memory, 't' traps. theater_alloc and theater_inbox both take
// from a bump pointer; theater_inbox's first buffer is at 0x2000.
constexpr const char* kInboxProbe = R"((module
  (import "theater" "state_set" (func $state_set (param i32 i32) (result i32)))
  (memory (export "memory") 8)
  (global $bump (mut i32) (i32.const 0x10000))
  (global $allocs (mut i32) (i32.const 0))
  (global $inbox_calls (mut i32) (i32.const 0))
  (global $inbox_size (mut i32) (i32.const 0))
  (global $mode (mut i32) (i32.const 0x6e))
  (func $take (param $size i32) (result i32) (local $r i32)
    (local.set $r (global.get $bump))
    (global.set $bump (i32.and (i32.add (global.get $bump) (i32.add (local.get $size) (i32.const 15)))
                               (i32.const -8)))
    (local.get $r))
  (func (export "theater_alloc") (param $size i32) (result i32)
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (call $take (local.get $size)))
  (func (export "theater_inbox") (param $size i32) (result i32)
    (global.set $inbox_calls (i32.add (global.get $inbox_calls) (i32.const 1)))
    (global.set $inbox_size (local.get $size))
    (if (i32.eq (global.get $mode) (i32.const 0x7a)) (then (return (i32.const 0))))
    (if (i32.eq (global.get $mode) (i32.const 0x6f)) (then (return (i32.const 0x7ff80))))
    (if (i32.eq (global.get $mode) (i32.const 0x74)) (then unreachable))
    (if (i32.eq (global.get $inbox_calls) (i32.const 1)) (then (return (i32.const 0x2000))))
    (call $take (local.get $size)))
  (func (export "theater_init") (param $p i32) (param $n i32) (param $reason i32) (result i32)
    (if (local.get $n) (then (global.set $mode (i32.load8_u (local.get $p)))))
    (i32.const 0))
  ;; Seen: msg ptr, len, byte after it, first byte, allocs, inbox calls, inbox size, channel
  ;; ptr, byte after the channel.
  (func $record (param $ch i32) (param $ch_len i32) (param $p i32) (param $n i32) (result i32)
    (i32.store (i32.const 0x100) (local.get $p))
    (i32.store (i32.const 0x104) (local.get $n))
    (i32.store (i32.const 0x108) (i32.load8_u (i32.add (local.get $p) (local.get $n))))
    (i32.store (i32.const 0x10c) (i32.load8_u (local.get $p)))
    (i32.store (i32.const 0x110) (global.get $allocs))
    (i32.store (i32.const 0x114) (global.get $inbox_calls))
    (i32.store (i32.const 0x118) (global.get $inbox_size))
    (i32.store (i32.const 0x11c) (local.get $ch))
    (i32.store (i32.const 0x120) (i32.load8_u (i32.add (local.get $ch) (local.get $ch_len))))
    (drop (call $state_set (i32.const 0x100) (i32.const 36)))
    (i32.const 0))
  (func (export "theater_handle_send") (param $p i32) (param $n i32) (result i32)
    (call $record (i32.const 0) (i32.const 0) (local.get $p) (local.get $n)))
  (func (export "theater_handle_request") (param i32 i32) (result i32) (i32.const 0))
  (func (export "theater_handle_channel_message") (param $ch i32) (param $ch_len i32) (param $p i32) (param $n i32) (result i32)
    (call $record (local.get $ch) (local.get $ch_len) (local.get $p) (local.get $n)))
))";

struct Seen {
  uint32_t ptr, len, after, first, allocs, inbox_calls, inbox_size, channel, after_channel;
};

class InboxTest : public RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() / ("theater-inbox-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    write_file_atomic(dir_ / "inbox.wasm", wat_to_wasm(kInboxProbe));
  }
  void TearDown() override {
    RuntimeTest::TearDown();
    std::filesystem::remove_all(dir_);
  }
  std::string spawn(char mode) {
    auto m = parse_manifest(
        "name = \"inbox\"\ncomponent = \"inbox.wasm\"\nhandlers = [\"message-server\"]\nrestart = \"temporary\"\n",
        dir_, "inbox.toml");
    return runtime->spawn(m, Bytes(1, mode));
  }
  Seen seen(const std::string& id) {
    settle();
    const Bytes state = runtime->find(id)->committed_state();
    Seen s{};
    EXPECT_EQ(state.size(), sizeof(Seen));
    std::memcpy(&s, state.data(), std::min(state.size(), sizeof(Seen)));
    return s;
  }
  std::string failure_of(const std::string& id) {
    settle();
    auto failed = events_of(id, "failed");
    return failed.empty() ? "(no failure)" : failed[0].detail;
  }
  std::filesystem::path dir_;
};

}  // namespace

TEST_P(InboxTest, ArgumentsGoToTheInboxWithoutAnAllocationPerMessage) {
  auto id = spawn('n');
  ASSERT_EQ(runtime->send(id, "hello"), abi::kOk);
  const Seen first = seen(id);
  EXPECT_EQ(first.ptr, 0x2000u);
  EXPECT_EQ(first.len, 5u);
  EXPECT_EQ(first.first, uint32_t('h'));
  EXPECT_EQ(first.after, 0u) << "the bytes are followed by a NUL";
  EXPECT_EQ(first.inbox_calls, 1u);
  EXPECT_EQ(first.inbox_size, 256u);

  // The next messages reuse it: no theater_alloc, no new inbox.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(runtime->send(id, "again" + std::to_string(i)), abi::kOk);
  const Seen later = seen(id);
  EXPECT_EQ(later.ptr, 0x2000u);
  EXPECT_EQ(later.first, uint32_t('a'));
  EXPECT_EQ(later.allocs, first.allocs) << "a message cost a theater_alloc call";
  EXPECT_EQ(later.inbox_calls, 1u);
}

TEST_P(InboxTest, ALargerMessageGetsALargerInboxAndAHugeOneTheAllocator) {
  auto id = spawn('n');
  ASSERT_EQ(runtime->send(id, "hi"), abi::kOk);
  const Seen small = seen(id);
  ASSERT_EQ(runtime->send(id, Bytes(1000, 'x')), abi::kOk);
  const Seen bigger = seen(id);
  EXPECT_EQ(bigger.inbox_calls, 2u);
  EXPECT_EQ(bigger.inbox_size, 1024u);
  EXPECT_NE(bigger.ptr, 0x2000u);
  EXPECT_EQ(bigger.len, 1000u);
  EXPECT_EQ(bigger.after, 0u);
  EXPECT_EQ(bigger.allocs, small.allocs);

  ASSERT_EQ(runtime->send(id, Bytes(70'000, 'y')), abi::kOk);  // past the inbox's 64 KiB
  const Seen huge = seen(id);
  EXPECT_EQ(huge.inbox_calls, 2u);
  EXPECT_EQ(huge.allocs, small.allocs + 1) << "over 64 KiB goes through theater_alloc";
  EXPECT_EQ(huge.len, 70'000u);
  EXPECT_EQ(huge.first, uint32_t('y'));
  EXPECT_EQ(huge.after, 0u);

  ASSERT_EQ(runtime->send(id, "small again"), abi::kOk);
  EXPECT_EQ(seen(id).ptr, bigger.ptr) << "back to the inbox";
}

TEST_P(InboxTest, TwoArgumentsAreLaidOutAlignedEachWithItsNul) {
  auto id = spawn('n');
  Message m;
  m.kind = MessageKind::ChannelMessage;
  m.from = "external";
  m.channel = "chan-1";  // 6 bytes + NUL: the message starts 8 bytes on
  m.bytes = "xyz";
  ASSERT_EQ(runtime->deliver(id, std::move(m)), abi::kOk);
  const Seen s = seen(id);
  EXPECT_EQ(s.channel, 0x2000u);
  EXPECT_EQ(s.after_channel, 0u);
  EXPECT_EQ(s.ptr, 0x2008u);
  EXPECT_EQ(s.len, 3u);
  EXPECT_EQ(s.first, uint32_t('x'));
  EXPECT_EQ(s.after, 0u);
}

TEST_P(InboxTest, AnInboxThatFailsFailsTheHandlerNamingIt) {
  const auto id_zero = spawn('z');
  ASSERT_EQ(runtime->send(id_zero, "m"), abi::kOk);
  EXPECT_NE(failure_of(id_zero).find("theater_inbox returned 0"), std::string::npos) << failure_of(id_zero);

  const auto id_outside = spawn('o');
  ASSERT_EQ(runtime->send(id_outside, "m"), abi::kOk);
  EXPECT_NE(failure_of(id_outside).find("theater_inbox returned a buffer outside memory"), std::string::npos)
      << failure_of(id_outside);

  const auto id_trap = spawn('t');
  ASSERT_EQ(runtime->send(id_trap, "m"), abi::kOk);
  EXPECT_NE(failure_of(id_trap).find("trap: theater_inbox: "), std::string::npos) << failure_of(id_trap);

  // A request to one whose inbox fails gets EFAILED, not a hang.
  const auto id_request = spawn('z');
  EXPECT_EQ(runtime->request(id_request, "r").rc, abi::kEFAILED);
}

INSTANTIATE_TEST_SUITE_P(Tiers, InboxTest, ::testing::Values(engine::Tier::Aot, engine::Tier::Interp), tier_name);

}  // namespace theater::test
