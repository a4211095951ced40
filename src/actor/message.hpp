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
const char* to_string(MessageKind);

struct Message {
  MessageKind kind = MessageKind::Send;
  std::string from;     // sender's actor id, or "external" for the CLI / API
  Bytes bytes;
  std::string channel;  // channel id for channel messages
  int64_t tag = 0;      // timer tag
  std::shared_ptr<ReplySlot> reply;
};

}  // namespace theater
