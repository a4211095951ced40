#pragma once
// What travels between actors: immutable byte strings plus who sent them and how to answer.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/core.h>

namespace theater {

using Bytes = std::string;  // a message, a state, an id: bytes, copied into the receiver

// Where the answer to a request goes. Exactly one of reply / error wins; later ones are dropped
// (and reported as such), e.g. a reply that arrives after the waiter gave up.
class ReplySlot {
 public:
  using Callback = std::function<void(int rc, Bytes reply)>;  // rc 0 = reply, else an ABI error
  explicit ReplySlot(Callback on_done) : on_done_(std::move(on_done)) {}
  // Returns false if the slot was already completed (the answer is dropped).
  bool complete(int rc, Bytes reply) {
    if (done_.exchange(true)) return false;
    on_done_(rc, std::move(reply));
    return true;
  }
  bool done() const { return done_.load(); }

 private:
  std::atomic<bool> done_{false};
  Callback on_done_;
};

enum class MessageKind : uint8_t {
  Send,            // one-way: theater_handle_send
  Request,         // theater_handle_request; reply goes to `reply`
  Timer,           // theater_handle_timer(tag)
  ChannelOpen,     // theater_handle_channel_open(channel, bytes); accept/refuse goes to `reply`
  ChannelMessage,  // theater_handle_channel_message(channel, bytes)
  ChannelClose,    // theater_handle_channel_close(channel)
};
constexpr size_t kMessageKinds = 6;
const char* to_string(MessageKind);

// Who sent a message: an actor id, or "external". Held in the message itself when it is short
// (ids are "<name>-<12 hex digits>", too long for std::string's own buffer), because a message
// is usually made on one thread and freed on another, and an allocation freed on another
// thread takes malloc's slow, locked path. Reads as a std::string_view; formats with fmt.
class SenderId {
 public:
  SenderId() = default;
  SenderId(std::string_view id) { assign(id); }
  SenderId(const std::string& id) { assign(id); }
  SenderId(const char* id) { assign(id); }
  SenderId& operator=(std::string_view id) { return assign(id); }
  SenderId& operator=(const std::string& id) { return assign(id); }
  SenderId& operator=(const char* id) { return assign(id); }

  std::string_view view() const { return size_ == kHeap ? std::string_view(heap_) : std::string_view(inline_, size_); }
  operator std::string_view() const { return view(); }
  std::string str() const { return std::string(view()); }
  bool empty() const { return view().empty(); }
  bool operator==(std::string_view other) const { return view() == other; }

 private:
  static constexpr uint8_t kInline = 46;
  static constexpr uint8_t kHeap = 0xff;
  SenderId& assign(std::string_view id) {
    if (id.size() <= kInline) {
      size_ = static_cast<uint8_t>(id.size());
      id.copy(inline_, id.size());
      heap_.clear();
    } else {
      size_ = kHeap;
      heap_.assign(id);
    }
    return *this;
  }
  uint8_t size_ = 0;  // kHeap: the id is in heap_
  char inline_[kInline + 1];
  std::string heap_;
};

struct Message {
  Message() = default;
  // A one-way message (Actor::deliver_send makes it in its mailbox node).
  Message(MessageKind k, std::string_view sender, Bytes&& b) : kind(k), from(sender), bytes(std::move(b)) {}
  Message(MessageKind k, std::string_view sender, std::string_view b) : kind(k), from(sender), bytes(b) {}

  MessageKind kind = MessageKind::Send;
  SenderId from;        // sender's actor id, or "external" for the CLI / API
  Bytes bytes;
  std::string channel;  // channel id for channel messages
  int64_t tag = 0;      // timer tag
  std::shared_ptr<ReplySlot> reply;
};

}  // namespace theater

template <>
struct fmt::formatter<theater::SenderId> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const theater::SenderId& id, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(id.view(), ctx);
  }
};
