#pragma once
// A fiber runs one actor turn on its own stack, so the actor can wait (a request, a yield) without
// holding the worker thread: the worker resumes other fibers meanwhile, and the waiting fiber may
// later be resumed on any worker. Built on Boost.Context; stacks come from a pool, and finished
// fibers are reused (make / recycle).
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace theater
