#include "scheduler/fiber.hpp"

#include <sys/mman.h>

#include <boost/context/fiber.hpp>

#include "base/stack_bounds.hpp"
#include <boost/context/stack_context.hpp>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define THEATER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define THEATER_TSAN 1
#endif

namespace theater {

namespace ctx = boost::context;

// Sanitizers must be told about stack switches, or they report the fiber's stack as bad memory
// (ASan) or lose track of happens-before (TSan). No-ops in normal builds.
struct SanitizerFiber {
#if THEATER_ASAN
  void* fake_stack = nullptr;
  const void* caller_bottom = nullptr;
  size_t caller_size = 0;
#endif
#if THEATER_TSAN
  void* tsan_fiber = nullptr;
  void* tsan_caller = nullptr;
#endif
  const void* bottom = nullptr;
  size_t size = 0;

  void created() {
#if THEATER_TSAN
    tsan_fiber = __tsan_create_fiber(0);
#endif
  }
  void destroyed() {
#if THEATER_TSAN
    if (tsan_fiber) __tsan_destroy_fiber(tsan_fiber);
#endif
  }
  // Around Fiber::resume (on the resumer's side).
  void before_resume(void** fake) {
#if THEATER_TSAN
    tsan_caller = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(tsan_fiber, 0);
#endif
#if THEATER_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake;
#endif
  }
  void after_resume(void* fake) {
#if THEATER_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    (void)fake;
#endif
  }
  // Inside the fiber: on entry and after every suspend returns.
  void entered() {
#if THEATER_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, &caller_bottom, &caller_size);
#endif
  }
  // Inside the fiber, before switching back to the resumer (finishing = the fiber ends).
  void leaving(bool finishing) {
#if THEATER_TSAN
    __tsan_switch_to_fiber(tsan_caller, 0);
#endif
#if THEATER_ASAN
    __sanitizer_start_switch_fiber(finishing ? nullptr : &fake_stack, caller_bottom, caller_size);
#else
    (void)finishing;
#endif
  }
};

namespace {

// Stacks are large (deep wasm recursion runs on them) but mapped lazily, and recycled: a turn
// costs no mmap. The lowest page is a guard.
#if THEATER_ASAN
constexpr size_t kStackBytes = 32 << 20;  // ASan's redzones make frames several times larger
#else
constexpr size_t kStackBytes = 8 << 20;
#endif
constexpr size_t kGuardBytes = 4096;
constexpr size_t kPoolMax = 256;

class StackPool {
 public:
  ctx::stack_context allocate() {
    void* base = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        base = free_.back();
        free_.pop_back();
      }
    }
    if (!base) {
      base = ::mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
      if (base == MAP_FAILED) throw std::bad_alloc();
      ::mprotect(base, kGuardBytes, PROT_NONE);
    }
    ctx::stack_context sc;
    sc.size = kStackBytes;
    sc.sp = static_cast<char*>(base) + kStackBytes;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) {
    void* base = static_cast<char*>(sc.sp) - kStackBytes;
    std::lock_guard lock(mutex_);
    if (free_.size() < kPoolMax) {
      free_.push_back(base);
    } else {
      ::munmap(base, kStackBytes);
    }
  }

 private:
  std::mutex mutex_;
  std::vector<void*> free_;
};

StackPool& pool() {
  static auto* p = new StackPool();  // never destroyed: fibers may finish during exit
  return *p;
}

struct PoolAllocator {
  SanitizerFiber* san;
  ctx::stack_context allocate() {
    auto sc = pool().allocate();
    san->bottom = static_cast<char*>(sc.sp) - sc.size;
    san->size = sc.size;
#ifdef THEATER_ASAN
    // A pooled stack keeps the redzones of frames that never returned (a fiber unwound or
    // abandoned mid-body): clear them, or the next fiber's first frames read as overflows.
    ASAN_UNPOISON_MEMORY_REGION(san->bottom, sc.size);
#endif
    return sc;
  }
  void deallocate(ctx::stack_context& sc) noexcept { pool().deallocate(sc); }
};

Fiber::ThreadStateHooks g_hooks;
thread_local Fiber* t_current = nullptr;

// Thread-local access only through these: a fiber may leave one thread and come back on another
// inside a function, and the compiler may reuse a thread-local address computed before the switch.
[[gnu::noinline]] Fiber* get_current() { return t_current; }
[[gnu::noinline]] void set_current(Fiber* f) { t_current = f; }

void* save_state() { return g_hooks.save ? g_hooks.save() : nullptr; }
void restore_state(void* s) {
  if (g_hooks.restore) g_hooks.restore(s);
}

}  // namespace

struct Fiber::Impl {
  std::function<void()> body;  // first: a fiber unwound at destruction may still be inside it
  ctx::fiber self;
  ctx::fiber caller;
  bool finished = false;
  bool quit = false;  // a finished fiber parked for reuse is being destroyed: leave the loop
  SanitizerFiber san;
};

void Fiber::set_thread_state_hooks(ThreadStateHooks hooks) { g_hooks = hooks; }

Fiber::Fiber(std::function<void()> body) : impl_(std::make_unique<Impl>()) {
  Impl* impl = impl_.get();
  impl->body = std::move(body);
  impl->san.created();
  // The fiber runs bodies in a loop: after each one it parks (as finished) until reset() gives
  // it the next, so that a reused fiber costs no stack or context setup.
  impl->self = ctx::fiber(std::allocator_arg, PoolAllocator{&impl->san}, [impl](ctx::fiber&& caller) {
    impl->san.entered();
    impl->caller = std::move(caller);
    for (;;) {
      impl->body();
      impl->body = nullptr;
      impl->finished = true;
      impl->san.leaving(false);
      impl->caller = std::move(impl->caller).resume();
      impl->san.entered();
      if (impl->quit) break;
    }
    impl->san.leaving(true);
    return std::move(impl->caller);
  });
}

Fiber::~Fiber() {
  if (impl_->finished && impl_->self) {
    // Parked after a body: let it leave its loop and end normally. (A fiber destroyed in the
    // middle of a body is unwound by Boost.Context, as before.)
    impl_->quit = true;
    resume();
  }
#ifdef THEATER_ASAN
  // Boost.Context unwinds a suspended fiber by switching to it without our switch annotations,
  // so ASan clears no stale redzones there: clear the whole stack before it does.
  if (!impl_->finished && impl_->self && impl_->san.bottom) {
    ASAN_UNPOISON_MEMORY_REGION(impl_->san.bottom, impl_->san.size);
  }
#endif
  impl_->san.destroyed();
}

void Fiber::reset(std::function<void()> body) {
  impl_->body = std::move(body);
  impl_->finished = false;
}

namespace {
// Finished fibers kept per thread for the next turns: most turns then start no new fiber.
constexpr size_t kReuseMax = 16;
thread_local std::vector<std::unique_ptr<Fiber>> t_reusable;
}  // namespace

std::unique_ptr<Fiber> Fiber::make(std::function<void()> body) {
  auto& pool = t_reusable;
  if (pool.empty()) return std::make_unique<Fiber>(std::move(body));
  auto fiber = std::move(pool.back());
  pool.pop_back();
  fiber->reset(std::move(body));
  return fiber;
}

void Fiber::recycle(std::unique_ptr<Fiber> fiber) {
  auto& pool = t_reusable;
  if (fiber->finished() && pool.size() < kReuseMax) pool.push_back(std::move(fiber));
}

void Fiber::resume() {
  Fiber* outer = get_current();
  void* state = save_state();
  const uintptr_t outer_stack_low = fiber_stack_low();
  set_current(this);
  set_fiber_stack_low(stack_low());
  void* fake = nullptr;
  impl_->san.before_resume(&fake);
  impl_->self = std::move(impl_->self).resume();
  impl_->san.after_resume(fake);
  set_current(outer);
  set_fiber_stack_low(outer_stack_low);
  restore_state(state);
}

uintptr_t Fiber::stack_low() const {
  return reinterpret_cast<uintptr_t>(impl_->san.bottom) + kGuardBytes;
}

void Fiber::suspend() {
  void* state = save_state();
  impl_->san.leaving(false);
  impl_->caller = std::move(impl_->caller).resume();
  impl_->san.entered();
  // Possibly on another thread now: put this fiber's thread-bound state back.
  set_current(this);
  set_fiber_stack_low(stack_low());
  restore_state(state);
}

bool Fiber::finished() const { return impl_->finished; }

Fiber* Fiber::current() { return get_current(); }

}  // namespace theater
