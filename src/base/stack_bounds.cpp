#include "base/stack_bounds.hpp"

#include <pthread.h>

namespace theater {

namespace {

thread_local uintptr_t t_fiber_low = 0;
thread_local uintptr_t t_thread_low = 0;

// Thread-local access only through these: a fiber may leave one thread and come back on another
// inside a function, and the compiler may reuse a thread-local address computed before the switch.
[[gnu::noinline]] uintptr_t thread_low() {
  if (t_thread_low == 0) {
    const StackRange stack = thread_stack();
    t_thread_low = reinterpret_cast<uintptr_t>(stack.bottom) + stack.guard;
  }
  return t_thread_low;
}

}  // namespace

StackRange thread_stack() {
  StackRange stack;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &stack.bottom, &stack.size);
    pthread_attr_getguardsize(&attr, &stack.guard);
    pthread_attr_destroy(&attr);
  }
  return stack;
}

[[gnu::noinline]] void set_fiber_stack_low(uintptr_t low) { t_fiber_low = low; }
[[gnu::noinline]] uintptr_t fiber_stack_low() { return t_fiber_low; }

uintptr_t current_stack_low() {
  const uintptr_t fiber = fiber_stack_low();
  return fiber != 0 ? fiber : thread_low();
}

}  // namespace theater
