#pragma once
// Fibers let an actor wait (a request, a yield) without holding its thread: the waiting turn keeps
// its stack, the thread goes on with other work, and the turn continues later on any thread.
// Built on Boost.Context; stacks come from a pool.
//
// Two kinds:
// - Loop fibers. A worker thread runs its loop on one (run_loop), and runs turns on it directly,
//   with no switch per turn. A turn that waits keeps the fiber (park_current), and the thread goes
//   on with its loop on another loop fiber. A worker continues the parked turn with
//   continue_here: its own fiber becomes a spare, taken up by the next park on its thread. Every
//   loop fiber runs the same loop, which must not keep thread-bound state across a turn.
// - Turn fibers (make / resume / suspend / recycle), for threads that run no loop (a cluster
//   node's NATS thread running one turn): a fiber per turn, switched to and back.
#include <cstdint>
#include <functional>
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

  explicit Fiber(std::function<void()> body);
  ~Fiber();
  // A fiber for `body`: a finished one this thread kept (recycle), or a new one.
  static std::unique_ptr<Fiber> make(std::function<void()> body);
  // Keeps a finished fiber for make() on this thread (else it is destroyed).
  static void recycle(std::unique_ptr<Fiber> fiber);
  // A finished fiber runs `body` at its next resume().
  void reset(std::function<void()> body);
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // From a worker: runs the fiber until it finishes or suspends.
  void resume();
  // From inside the fiber: returns to whoever resumed it.
  void suspend();
  bool finished() const;
  // The lowest usable address of this fiber's stack (above its guard page).
  uintptr_t stack_low() const;
  // The fiber running on this thread, or null.
  static Fiber* current();

  // ---- loop fibers ----
  // Runs loop(arg) on a loop fiber of this thread, and returns once a loop fiber of this thread
  // has returned from it. The loop must then return from every spare it is continued on too
  // (they are continued once each before run_loop returns), and it must read thread-bound state
  // afresh after each turn: it may continue on another thread.
  static void run_loop(void (*loop)(void*), void* arg);
  // True on a loop fiber.
  static bool on_loop();
  bool is_loop() const;
  // From a loop fiber (a turn that waits): moves the running fiber into `keeper`, and this thread
  // goes on with its loop on another loop fiber. Returns once continue_here() is given the fiber
  // (maybe on another thread).
  static void park_current(std::unique_ptr<Fiber>& keeper);
  // From a loop fiber: continues `parked` on this thread, and keeps the running fiber as a spare.
  // Returns once the spare is taken up again, by a park on this thread (or at run_loop's end): the
  // turn it was in then has ended elsewhere.
  static void continue_here(std::unique_ptr<Fiber> parked);

 private:
  struct Impl;
  struct LoopTag {};
  Fiber(LoopTag, void (*loop)(void*), void* arg);
  friend struct LoopThread;
  friend struct FiberUnwind;
  std::unique_ptr<Impl> impl_;
};

}  // namespace theater
