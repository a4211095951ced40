#pragma once
// Fibers let an actor wait (a request, a drain wait, a preemption) without holding its thread:
// the waiting turn keeps its stack, the thread goes on with other work, and the turn continues
// later on any thread. Built on Boost.Context; stacks come from a pool.
//
// A thread that runs turns (a worker, or a thread hosting one turn) runs its loop on a loop
// fiber (run_loop), and runs each turn directly on it, with no switch per turn. A turn that
// waits keeps the fiber it is on (park_current), and the thread goes on with its loop on another
// loop fiber. A thread continues the parked turn with continue_here: its own fiber becomes a
// spare, taken up by the next park on that thread. Every loop fiber of a thread runs the same
// loop, which must read thread-bound state afresh after each turn (it may have moved threads).
#include <cstdint>
#include <memory>

namespace theater {

class Fiber {
 public:
  // Thread-bound state that must travel with a fiber when it moves between threads (the engine's
  // innermost unwind target). The runtime installs these once.
  struct ThreadStateHooks {
    void* (*save)() = nullptr;
    void (*restore)(void*) = nullptr;
  };
  static void set_thread_state_hooks(ThreadStateHooks hooks);

  // Runs loop(arg) on a loop fiber of this thread, and returns once a loop fiber of this thread
  // has returned from it. The loop must then return from every spare it is continued on too
  // (each is continued once before run_loop returns).
  static void run_loop(void (*loop)(void*), void* arg);
  // From a loop fiber (a turn that waits): moves the running fiber into `keeper`, and this thread
  // goes on with its loop on another loop fiber. Returns once continue_here() is given the fiber
  // (maybe on another thread).
  static void park_current(std::unique_ptr<Fiber>& keeper);
  // From a loop fiber: continues `parked` on this thread, and keeps the running fiber as a spare.
  // Returns once the spare is taken up again, by a park on this thread (or at run_loop's end): the
  // turn it was in has then ended elsewhere.
  static void continue_here(std::unique_ptr<Fiber> parked);

  // A parked fiber that is destroyed is unwound: its frames' destructors run.
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // The fiber running on this thread, or null; true if there is one.
  static Fiber* current();
  static bool on_loop();
  // The lowest usable address of this fiber's stack (above its guard page).
  uintptr_t stack_low() const;

 private:
  struct Impl;
  Fiber(void (*loop)(void*), void* arg);
  friend struct LoopThread;
  friend struct FiberUnwind;
  std::unique_ptr<Impl> impl_;
};

}  // namespace theater
