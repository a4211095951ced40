#pragma once
// The bytes of one cluster message on NATS (docs/cluster.md, "Wire format"): what a node
// publishes to another node's subject. Binary, little-endian, length-prefixed fields:
//
//   u8  version (1)   u8 kind   i32 rc   u64 request id
//   u16 |from| from   u16 |to| to   u16 |channel| channel   u16 |reply_to| reply_to
//   u32 |bytes| bytes
//
// An actor message (send, request, channel open/message/close) carries from, to, channel and
// bytes; a request or channel open also a request id and reply_to, the subject where the answer
// goes. An answer (kind Reply) carries the request id, rc (an abi::Rc, or the channel-open
// accept 1/0) and the reply bytes. Supervision traffic (ChildFailed, ChildExited) names the
// child in `from` and the parent in `to`; bytes hold the failure JSON or the exit result. A
// Control (a parent's node asking a child's node; answered by a Reply) has the operation in rc
// (RemoteNodes::Control; spawn adds 0x100 when an initial state is given), the child in `to`, and
// the init reason in bytes (decimal) — or for a spawn the parent in `from`, the manifest path in
// `channel` and the initial state in bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/chain.hpp"

namespace theater::cluster {

inline constexpr uint8_t kWireVersion = 1;

enum class WireKind : uint8_t {
  Send = 0,
  Request = 1,
  ChannelOpen = 3,
  ChannelMessage = 4,
  ChannelClose = 5,
  Reply = 16,
  ChildFailed = 17,
  ChildExited = 18,
  Control = 19,
};

struct WireMessage {
  WireKind kind = WireKind::Send;
  int32_t rc = 0;
  uint64_t request_id = 0;
  std::string from, to, channel, reply_to;
  std::string bytes;
};

std::string encode(const WireMessage& m);
// nullopt if the bytes are not a complete message of a known version and kind.
std::optional<WireMessage> decode(std::string_view data);

// Several messages in one NATS message (the sends of one actor turn to one node), in order:
//   u8 version (1)   u8 kind (20)   then each message as u32 length + its encoding
inline constexpr uint8_t kBatchKind = 20;
void append_to_batch(std::string& batch, std::string_view encoded);  // starts it when empty
// The messages of a batch, in order; nullopt if `data` is not a batch or is cut short.
std::optional<std::vector<std::string_view>> split_batch(std::string_view data);

// A Control Spawn whose manifest travels as text (flag 0x200): its bytes are
//   u32 |text| text   then the initial state (the rest)
std::string encode_spawn_text(std::string_view manifest_text, std::string_view init_state);
// {text, init state}; throws std::runtime_error if the bytes are cut short.
std::pair<std::string, std::string> decode_spawn_text(std::string_view bytes);

// An actor's value in the state bucket: its committed state and the head of its event chain at
// that commit (none when the node keeps no chain: no --data, or --no-chain).
//
//   u8 version (1)   u8 has_head   [u64 head seq   32 bytes head hash]   state (the rest)
struct ReplicatedState {
  std::string state;
  std::optional<state::ChainHead> head;
};
std::string encode(const ReplicatedState& s);
std::optional<ReplicatedState> decode_state(std::string_view data);

}  // namespace theater::cluster
