// Handler "message-server": send, request/reply, channels. A request or channel_open waits in
// the actor's fiber (await), never on the worker thread.
#include <fmt/format.h>

#include "abi/host_io.hpp"
#include "abi/imports.hpp"
#include "actor/runtime.hpp"

namespace theater::abi {
namespace {

constexpr auto kDefaultRequestTimeout = std::chrono::milliseconds(30000);

struct Answer {
  int32_t rc = 0;
  Bytes bytes;
  Scheduler::TimerId timer = 0;
};

// Delivers `m` (with a reply slot) to `to`, on this node or another, and waits in the actor's
// fiber for the answer, a delivery error or the timeout.
Answer ask(engine::Instance& inst, Actor& self, const std::string& to, Message m,
           std::chrono::milliseconds timeout) {
  auto answer = std::make_shared<Answer>();
  auto& scheduler = self.runtime().scheduler();
  const bool answered = self.await([&](std::function<void()> wake) {
    auto slot = std::make_shared<ReplySlot>([answer, wake](int rc, Bytes reply) {
      answer->rc = rc;
      answer->bytes = std::move(reply);
      wake();
    });
    m.reply = slot;
    if (int32_t rc = self.runtime().deliver(to, std::move(m)); rc != kOk) {
      slot->complete(rc, {});
      return;
    }
    answer->timer = scheduler.after(timeout, [slot] { slot->complete(kETIMEOUT, {}); });
  });
  if (answer->timer) scheduler.cancel(answer->timer);
  if (!answered) {
    inst.raise({engine::TrapKind::Host, "the actor was stopped while it waited for an answer"});
    return {kESTOPPED, {}, 0};
  }
  return std::move(*answer);
}

// The bytes for a message: moved out when nothing records them, else copied (the recorder hashes
// and keeps them after the call).
Bytes take(Actor& self, std::string& bytes) { return self.io() ? bytes : std::move(bytes); }

uint64_t send(engine::Instance& inst, const uint64_t* a) {
  // Views of the actor's memory, which does not change during the call (no wasm runs): the
  // message is copied once, into the receiver's mailbox node.
  auto to = view_guest(inst, a[0], a[1]);
  auto msg = view_guest(inst, a[2], a[3]);
  if (!to || !msg) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  const int32_t rc = host_io(inst, HostCall::Send, *to, *msg, [&] {
    return HostOutcome{self.runtime().send(*to, *msg, self.id, &self.send_target()), {}};
  }).rc;
  if (rc == kOk) self.after_send();
  return static_cast<uint32_t>(rc);
}

uint64_t request(engine::Instance& inst, const uint64_t* a) {
  auto to = read_guest(inst, a[0], a[1]);
  auto msg = read_guest(inst, a[2], a[3]);
  if (!to || !msg || !inst.in_bounds(static_cast<uint32_t>(a[5]), 4) ||
      !inst.in_bounds(static_cast<uint32_t>(a[6]), 4)) {
    return static_cast<uint32_t>(kEINVAL);
  }
  auto& self = actor_of(inst);
  const auto timeout_ms = static_cast<int32_t>(a[4]);
  const auto timeout = timeout_ms > 0 ? std::chrono::milliseconds(timeout_ms) : kDefaultRequestTimeout;
  // By id through Runtime::deliver (in ask): the target may be on another node.
  auto out = host_io(inst, HostCall::Request, *to, *msg, [&] {
    Message m;
    m.kind = MessageKind::Request;
    m.from = self.id;
    m.bytes = take(self, *msg);
    auto answer = ask(inst, self, *to, std::move(m), timeout);
    return HostOutcome{answer.rc, std::move(answer.bytes)};
  });
  return rc_or_bytes(inst, out, a[5], a[6]);
}

uint64_t reply(engine::Instance& inst, const uint64_t* a) {
  auto bytes = read_guest(inst, a[0], a[1]);
  if (!bytes) return static_cast<uint32_t>(kEINVAL);
  auto& scratch = actor_of(inst).scratch();
  if (!scratch.reply || scratch.replied) return static_cast<uint32_t>(kEINVAL);
  // Held until the handler succeeds: a requester never sees a reply whose state was rolled back.
  scratch.replied = true;
  scratch.reply_bytes = std::move(*bytes);
  return kOk;
}

uint64_t channel_open(engine::Instance& inst, const uint64_t* a) {
  auto to = read_guest(inst, a[0], a[1]);
  auto msg = read_guest(inst, a[2], a[3]);
  if (!to || !msg) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  auto& rt = self.runtime();
  auto out = host_io(inst, HostCall::ChannelOpen, *to, *msg, [&] {
    const std::string channel = rt.new_channel(self.id, *to);
    Message m;
    m.kind = MessageKind::ChannelOpen;
    m.from = self.id;
    m.channel = channel;
    m.bytes = take(self, *msg);
    auto answer = ask(inst, self, *to, std::move(m), kDefaultRequestTimeout);
    if (answer.rc != 1) {
      rt.set_channel_open(channel, false);
      return HostOutcome{answer.rc == 0 ? kEDENIED : answer.rc, {}};
    }
    rt.set_channel_open(channel, true);
    return HostOutcome{kOk, channel};
  });
  return rc_or_bytes(inst, out, a[4], a[5]);
}

// The other end of an open channel that `self` is part of, or nullopt.
std::optional<std::string> other_end(Actor& self, const std::string& channel) {
  auto ch = self.runtime().channel(channel);
  if (!ch || !ch->open) return std::nullopt;
  if (ch->opener == self.id) return ch->target;
  if (ch->target == self.id) return ch->opener;
  return std::nullopt;
}

uint64_t channel_send(engine::Instance& inst, const uint64_t* a) {
  auto ch = read_guest(inst, a[0], a[1]);
  auto msg = read_guest(inst, a[2], a[3]);
  if (!ch || !msg) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  return static_cast<uint32_t>(host_io(inst, HostCall::ChannelSend, *ch, *msg, [&] {
    auto other = other_end(self, *ch);
    if (!other) return HostOutcome{kENOTFOUND, {}};
    Message m;
    m.kind = MessageKind::ChannelMessage;
    m.from = self.id;
    m.channel = *ch;
    m.bytes = take(self, *msg);
    const int32_t rc = self.runtime().deliver(*other, std::move(m));
    return HostOutcome{rc == kENOTFOUND ? kESTOPPED : rc, {}};  // the other end is gone
  }).rc);
}

uint64_t channel_close(engine::Instance& inst, const uint64_t* a) {
  auto ch = read_guest(inst, a[0], a[1]);
  if (!ch) return static_cast<uint32_t>(kEINVAL);
  auto& self = actor_of(inst);
  return static_cast<uint32_t>(host_io(inst, HostCall::ChannelClose, *ch, {}, [&] {
    auto other = other_end(self, *ch);
    if (!other) return HostOutcome{kENOTFOUND, {}};
    self.runtime().set_channel_open(*ch, false);
    Message m;
    m.kind = MessageKind::ChannelClose;
    m.from = self.id;
    m.channel = *ch;
    self.runtime().deliver(*other, std::move(m));
    return HostOutcome{kOk, {}};
  }).rc);
}

}  // namespace

std::vector<HostImportSpec> message_imports() {
  return {
      {"theater", "send", "message-server", sig("iiii", "i"), send},
      {"theater", "request", "message-server", sig("iiiiiii", "i"), request},
      {"theater", "reply", "message-server", sig("ii", "i"), reply},
      {"theater", "channel_open", "message-server", sig("iiiiii", "i"), channel_open},
      {"theater", "channel_send", "message-server", sig("iiii", "i"), channel_send},
      {"theater", "channel_close", "message-server", sig("ii", "i"), channel_close},
  };
}

}  // namespace theater::abi
