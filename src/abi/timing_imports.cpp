// Handler "timing": the wall clock and timers that arrive as theater_handle_timer messages.
#include "abi/host_io.hpp"
#include "abi/imports.hpp"
#include "actor/runtime.hpp"

namespace theater::abi {
namespace {

uint64_t now_ms(engine::Instance& inst, const uint64_t*) {
  return static_cast<uint64_t>(host_io(inst, HostCall::NowMs, {}, {}, [] { return HostOutcome{wall_ms(), {}}; }).rc);
}

uint64_t timer_set(engine::Instance& inst, const uint64_t* a) {
  const auto delay = static_cast<int32_t>(a[0]);
  if (delay < 0) return static_cast<uint32_t>(kEINVAL);
  const auto tag = static_cast<int64_t>(a[1]);
  const uint64_t key[2] = {static_cast<uint64_t>(delay), static_cast<uint64_t>(tag)};
  return static_cast<uint32_t>(host_io(inst, HostCall::TimerSet, {reinterpret_cast<const char*>(key), sizeof key}, {}, [&] {
    auto self = actor_of(inst).shared_from_this();
    self->runtime().scheduler().after(std::chrono::milliseconds(delay), [weak = std::weak_ptr(self), tag] {
      if (auto actor = weak.lock()) {
        Message m;
        m.kind = MessageKind::Timer;
        m.from = actor->id;
        m.tag = tag;
        actor->deliver(std::move(m));
      }
    });
    return HostOutcome{kOk, {}};
  }).rc);
}

}  // namespace

std::vector<HostImportSpec> timing_imports() {
  return {
      {"theater", "now_ms", "timing", sig("", "I"), now_ms},
      {"theater", "timer_set", "timing", sig("iI", "i"), timer_set},
  };
}

}  // namespace theater::abi
