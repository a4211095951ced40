#pragma once
// The event chain, byte for byte (docs/state.md, "The event chain").
//
// Every actor has its own chain of events: created, init, message received, sent, request and
// its reply, host results, state committed, failure, restart, upgrade, stop ... Event n carries
// the SHA-256 of event n-1, so changing, removing or reordering a stored event breaks the link
// to every later one. This header promises:
//  - event_hash(): the one byte layout that is hashed;
//  - PayloadWriter / PayloadReader: each event type's payload, written and read back the same;
//  - verify_chain(): the first broken link of an actor's stored events, or none;
//  - describe(): an event as JSON for people and tools (`theater events --json`).
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace theater::state {

using Hash = std::array<uint8_t, 32>;
Hash sha256(std::string_view bytes);
std::string hex(const Hash& h);
std::optional<Hash> parse_hex_hash(std::string_view hex);

enum class EventType : uint8_t {
  Created = 1,    // str id, str name, str parent, str module, str manifest_json, blob initial_state
  Init = 2,       // u8 reason, str module, blob state         (a fresh instance, theater_init)
  Received = 3,   // u8 kind, str from, str channel, i64 tag, blob bytes
  Sent = 4,       // host layout: send / channel_send
  Request = 5,    // host layout: request / channel_open (with the answer)
  Replied = 6,    // blob reply                                (our reply to a request)
  Host = 7,       // host layout: any other host call that brings outside data in
  Committed = 8,  // blob state (hash and size only: the state itself is in the actors table)
  Failure = 9,    // str kind, str message
  Restart = 10,   // u32 restarts so far
  Upgrade = 11,   // str old_module, str new_module, str manifest_json
  Rollback = 12,  // str reason                                (the upgrade was undone)
  Stop = 13,      // str how ("stopped" | "exited"), blob detail
  Call = 14,      // str export, blob a, blob b                (child_error, child_exit, down, shutdown)
  Note = 15,      // str type, str detail                      (hibernated, undeliverable, recovered ...)
  Continued = 16, // str from_node, u64 prev_seq, str prev_hash (hex)   (a cluster moved the actor here)
};
inline constexpr int kLastEventType = 16;
const char* to_string(EventType t);
std::optional<EventType> event_type_named(std::string_view name);

// Host calls that are recorded. The "host layout" of Sent / Request / Host events:
//   u8 call, str key, blob input, i64 rc, blob output
// key: what the call names (target id, channel, blob ref ...); input: the bytes the actor gave;
// rc: the value returned to the actor; output: the bytes handed back to it.
enum class HostCall : uint8_t {
  NowMs = 1, TimerSet, RandomFill, StorePut, StoreGet, Send, Request, ChannelOpen, ChannelSend,
  ChannelClose, Spawn, StopChild, RestartChild, ListChildren, ChildState, ChildEvents, Monitor,
  Demonitor, ClockTimeGet, RandomGet, SpawnOn,
};
inline constexpr int kLastHostCall = 21;
const char* to_string(HostCall c);
EventType event_type_of(HostCall c);

// Where an actor's chain ends: its last event's seq and hash. A cluster keeps the head of each
// actor's last commit beside its state, so that the node that takes the actor over goes on from it.
struct ChainHead {
  uint64_t seq = 0;
  Hash hash{};
  bool operator==(const ChainHead&) const = default;
};

// An event as stored.
struct StoredEvent {
  uint64_t seq = 0;  // 1, 2, 3 ... per actor
  int64_t time_ms = 0;
  EventType type = EventType::Note;
  std::string payload;
  Hash hash{};
};

// SHA-256 over: "theater-event-v1" (16 bytes) | prev (32) | seq (u64 BE) | time_ms (i64 BE) |
// type (u8) | payload length (u32 BE) | payload. prev is all zeros for seq 1.
Hash event_hash(const Hash& prev, uint64_t seq, int64_t time_ms, EventType type,
                std::string_view payload);

// How events are kept: consecutive events of one actor in one segment (a row of the store),
// each as seq (u64 BE) | time_ms (i64 BE) | type (u8) | payload length (u32 BE) | payload | hash (32).
void append_record(std::string& segment, uint64_t seq, int64_t time_ms, EventType type,
                   std::string_view payload, const Hash& hash);
void append_record(std::string& segment, const StoredEvent& e);
// Throws PayloadError if the segment does not parse.
std::vector<StoredEvent> decode_segment(std::string_view segment);

struct PayloadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Integers big-endian; str = u32 length + bytes; blob = u32 size + u32 stored + the first `stored`
// bytes + (only when stored < size) the sha256 of all `size` bytes. A blob kept whole carries no
// separate hash: its bytes are covered by the event's hash, and their hash is computed when read.
class PayloadWriter {
 public:
  explicit PayloadWriter(std::string& out) : out_(out) {}
  PayloadWriter& u8(uint8_t v);
  PayloadWriter& u32(uint32_t v);
  PayloadWriter& u64(uint64_t v);
  PayloadWriter& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
  PayloadWriter& str(std::string_view s);
  // Keeps at most `keep` bytes, and their hash if that is not all of them: computed here, unless
  // given (see blob_hash: to compute it before taking a lock).
  PayloadWriter& blob(std::string_view bytes, size_t keep, const std::optional<Hash>& hash = std::nullopt);
  // Bytes as they are (no length): only for the writer's own layouts.
  PayloadWriter& raw(std::string_view bytes);

 private:
  std::string& out_;
};

// The hash a blob of these bytes will carry, or nullopt if it keeps them whole (no hash needed).
std::optional<Hash> blob_hash(std::string_view bytes, size_t keep);

struct Blob {
  uint32_t size = 0;
  Hash hash{};  // of all `size` bytes (computed from `stored` when complete)
  std::string stored;
  bool complete() const { return stored.size() == size; }
};

class PayloadReader {
 public:
  explicit PayloadReader(std::string_view in) : in_(in) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string str();
  Blob blob();
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view take(size_t n);
  std::string_view in_;
  size_t pos_ = 0;
};

// The host layout, decoded.
struct HostRecord {
  HostCall call{};
  std::string key;
  Blob input;
  int64_t rc = 0;
  Blob output;
};
HostRecord decode_host(std::string_view payload);

// The first broken link of a chain, or nullopt if every event hashes to what is stored, links to
// the one before it, and seq runs 1, 2, 3 ... without a gap. The one gap allowed is at a
// "continued" event: the actor came from another node, and the event links to the head it names
// there (`continued_from`; check it against that node's store or the cluster's copy). Its seq is
// past that head and past anything stored here before it (a branch the cluster did not keep).
struct BrokenLink {
  uint64_t seq;        // the first event that does not check out
  std::string reason;  // what is wrong with it
};
std::optional<BrokenLink> verify_chain(std::span<const StoredEvent> events);
// The head a "continued" event links to (nullopt: not one, or unreadable), and the node it names.
std::optional<ChainHead> continued_from(const StoredEvent& e, std::string* from_node = nullptr);

// The event with its payload decoded into named fields (bytes as text when printable, else hex).
nlohmann::json describe(const StoredEvent& e);
// One line for people: the decoded fields that matter for this type.
std::string summary(const StoredEvent& e);

}  // namespace theater::state
