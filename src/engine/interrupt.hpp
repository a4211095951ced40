#pragma once
// Preempting wasm code from another thread. A thread names the instance whose code it runs in its
// InterruptSlot; another thread (the scheduler's watchdog) calls interrupt() on the slot without
// knowing whether that instance still exists: an instance leaves its slot before it is destroyed,
// waiting for an interrupt in progress to finish, so interrupt() never reaches a dead one.
// What an interrupt does: Instance::interrupt (engine.hpp), the fuel below zero.
// Slots come from a pool that never gives memory back (a few bytes per worker thread), so an
// instance may keep a pointer to the last slot it was in after that slot's thread is gone.
#include <atomic>

namespace theater::engine {

class Instance;

class InterruptSlot {
 public:
  static InterruptSlot* acquire();            // from the pool, empty
  static void release(InterruptSlot* slot);   // back to it (emptied)

  // [the thread running the instance] An instance is in at most one slot: moving to another (its
  // fiber resumed on another thread) takes it out of the one it was in. Inline: once per call
  // into wasm.
  inline void publish(Instance* instance);
  void unpublish() { instance_.store(nullptr, std::memory_order_release); }
  // [any thread] Interrupts the instance published now, if any.
  void interrupt();

 private:
  friend class Instance;
  void move_here(Instance* instance);  // publish()'s rare path
  std::atomic<Instance*> instance_{nullptr};
};

}  // namespace theater::engine
