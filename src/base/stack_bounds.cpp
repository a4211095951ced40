#include "base/stack_bounds.hpp"

#include <pthread.h>

#include <exception>
#include <stdexcept>

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

[[gnu::noinline]] size_t stack_left() {
  const auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  const uintptr_t low = current_stack_low();
  return here > low ? here - low : 0;
}

void run_with_stack(size_t need, const std::function<void()>& fn) {
  if (stack_left() >= need) {
    fn();
    return;
  }
  struct Job {
    const std::function<void()>* fn;
    std::exception_ptr error;
  } job{&fn, nullptr};
  auto body = [](void* arg) -> void* {
    auto* j = static_cast<Job*>(arg);
    try {
      (*j->fn)();
    } catch (...) {
      j->error = std::current_exception();
    }
    return nullptr;
  };
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kSpareStackBytes);  // reserved, touched only as used
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, body, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("cannot start a thread for work that needs a deep stack");
  pthread_join(thread, nullptr);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace theater
