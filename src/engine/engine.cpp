#include "engine/engine.hpp"

#include <deque>
#include <mutex>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/small_mutex.hpp"
#include "engine/aot/aot_engine.hpp"
#include "engine/interp/interp_engine.hpp"

namespace theater::engine {

namespace {
// Held by an interrupt while it touches the instance, and by an instance leaving its slot: one
// for the process, as interrupts are rare (a turn past its time slice) and so are destructions
// of instances that were ever published.
SmallMutex& interrupt_mutex() {
  static SmallMutex mutex;
  return mutex;
}

struct SlotPool {
  std::mutex mutex;
  std::deque<InterruptSlot> slots;  // (a deque: the addresses stay put)
  std::vector<InterruptSlot*> free;
};
SlotPool& slot_pool() {
  static auto* pool = new SlotPool;  // never destroyed: instances may outlive static destruction
  return *pool;
}
}  // namespace

InterruptSlot* InterruptSlot::acquire() {
  std::lock_guard lock(slot_pool().mutex);
  if (!slot_pool().free.empty()) {
    InterruptSlot* slot = slot_pool().free.back();
    slot_pool().free.pop_back();
    return slot;
  }
  return &slot_pool().slots.emplace_back();
}

void InterruptSlot::release(InterruptSlot* slot) {
  slot->unpublish();
  std::lock_guard lock(slot_pool().mutex);
  slot_pool().free.push_back(slot);
}

void InterruptSlot::move_here(Instance* instance) {
  if (InterruptSlot* old = instance->slot_) {
    Instance* expected = instance;
    old->instance_.compare_exchange_strong(expected, nullptr);
  }
  instance->slot_ = this;
}

void InterruptSlot::interrupt() {
  std::lock_guard lock(interrupt_mutex());
  if (Instance* instance = instance_.load(std::memory_order_acquire)) instance->interrupt();
}

void Instance::leave_interrupt_slot() {
  if (!slot_) return;  // never published: no other thread can know of it
  // Even when it is in no slot now, an interrupt that found it there may still be running.
  std::lock_guard lock(interrupt_mutex());
  Instance* expected = this;
  slot_->instance_.compare_exchange_strong(expected, nullptr);
}

std::unique_ptr<Engine> Engine::create(EngineConfig config) {
  if (config.tier == Tier::Aot) {
    std::string why;
    if (auto aot = make_aot_engine(config, &why)) return aot;
    spdlog::warn("AOT engine unavailable ({}); using the interpreter", why);
  }
  return make_interp_engine(config);
}

}  // namespace theater::engine
