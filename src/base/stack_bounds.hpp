#pragma once
// Where the stack that the calling code runs on ends. Code runs either on its thread's own stack
// or on a fiber's (an actor's turn); fiber switches keep the record in step (scheduler/fiber.cpp).
// The engine uses it to refuse a host call that would run with too little stack left.
#include <cstddef>
#include <cstdint>
#include <functional>

namespace theater {

// The lowest usable address of the current stack (above any guard page).
uintptr_t current_stack_low();

// This thread's own stack, guard page included (empty if the system does not say).
struct StackRange {
  void* bottom = nullptr;
  size_t size = 0;
  size_t guard = 0;
};
StackRange thread_stack();

// How much of the current stack is left below the caller's frame.
size_t stack_left();

// Runs fn with at least `need` bytes of stack: here if that much is left, else on a thread of its
// own with kSpareStackBytes (and waits for it). For work whose stack depth the input decides
// (wabt's recursive walks of a module's nested blocks), which may be asked for by a host call
// that has only its reserve left. An exception fn throws is rethrown here.
inline constexpr size_t kSpareStackBytes = 64 << 20;
void run_with_stack(size_t need, const std::function<void()>& fn);

// Kept by Fiber::resume/suspend: the stack low of the fiber running on this thread, 0 if none.
void set_fiber_stack_low(uintptr_t low);
uintptr_t fiber_stack_low();

}  // namespace theater
