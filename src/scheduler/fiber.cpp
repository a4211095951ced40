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
#if defined(__SANITIZE_THREAD__) || defined(THEATER_FIBER_TSAN)  // (see CMakeLists.txt)
#include <sanitizer/tsan_interface.h>
#define THEATER_TSAN 1
#endif

namespace theater {

namespace ctx = boost::context;

// Sanitizers must be told about stack switches, or they report the fiber's stack as bad memory
// (ASan) or lose track of happens-before and of the call stacks (TSan). No-ops in normal builds.
struct SanitizerFiber {
#if THEATER_ASAN
  void* fake_stack = nullptr;
#endif
#if THEATER_TSAN
  void* tsan_fiber = nullptr;
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
  // From this context straight to `to` (ending: this context never runs again), and
  // switched_in() when something switches back to it (or at its start).
  void switch_to(const SanitizerFiber& to, bool ending) {
#if THEATER_TSAN
    __tsan_switch_to_fiber(to.tsan_fiber, 0);
#endif
#if THEATER_ASAN
    __sanitizer_start_switch_fiber(ending ? nullptr : &fake_stack, to.bottom, to.size);
#else
    (void)to;
    (void)ending;
#endif
  }
  void switched_in() {
#if THEATER_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
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

// Made before main (worker threads start with a loop fiber, and this file runs uninstrumented
// under TSan, which would not see a function-local static's guard), and never destroyed: fibers
// may finish during exit.
StackPool* const g_stack_pool = new StackPool();
StackPool& pool() { return *g_stack_pool; }

struct PoolAllocator {
  SanitizerFiber* san;
  ctx::stack_context allocate() {
    auto sc = pool().allocate();
    san->bottom = static_cast<char*>(sc.sp) - sc.size;
    san->size = sc.size;
#ifdef THEATER_ASAN
    // A pooled stack keeps the redzones of frames that never returned (a fiber unwound in the
    // middle of a turn): clear them, or the next fiber's first frames read as overflows.
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
  ctx::fiber self;  // its context while it does not run
  bool finished = false;
  Fiber* owner = nullptr;  // null for a thread's own context (LoopThread::native)
  SanitizerFiber san;
  // A fiber destroyed in the middle of a turn: whom to switch back to once it has unwound.
  ctx::fiber unwind_back;
  SanitizerFiber* unwinder = nullptr;
};

void Fiber::set_thread_state_hooks(ThreadStateHooks hooks) { g_hooks = hooks; }

struct FiberUnwind {
  // Unwinds a fiber that is destroyed while parked: switches to it (telling the sanitizers, which
  // Boost.Context's own unwinding does not, so TSan would pop the destroyer's shadow call stack),
  // throws Unwinding there, and the fiber's entry switches back once every frame is gone.
  struct Unwinding {};
  static void unwind(Fiber::Impl& impl) {
    SanitizerFiber here;
#if THEATER_TSAN
    here.tsan_fiber = __tsan_get_current_fiber();
#endif
    void* state = save_state();
    here.switch_to(impl.san, false);
    ctx::fiber target = std::move(impl.self);
    [[maybe_unused]] ctx::fiber back = std::move(target).resume_with([&impl, &here](ctx::fiber&& c) -> ctx::fiber {
      impl.unwind_back = std::move(c);
#if THEATER_ASAN
      __sanitizer_finish_switch_fiber(impl.san.fake_stack, &here.bottom, &here.size);
#endif
      impl.unwinder = &here;
      throw Unwinding{};
    });
    here.switched_in();
    restore_state(state);
  }

  // In a fiber's entry, once Unwinding has reached it: back to the destroyer.
  static ctx::fiber finish(Fiber::Impl& impl) {
    impl.finished = true;
    impl.san.switch_to(*impl.unwinder, true);
    return std::move(impl.unwind_back);
  }
};

Fiber::~Fiber() {
  if (!impl_->finished && impl_->self) FiberUnwind::unwind(*impl_);
  impl_->san.destroyed();
}

uintptr_t Fiber::stack_low() const {
  return reinterpret_cast<uintptr_t>(impl_->san.bottom) + kGuardBytes;
}

Fiber* Fiber::current() { return get_current(); }

bool Fiber::on_loop() { return get_current() != nullptr; }

// ---- loop fibers ---------------------------------------------------------------------------------

// A thread inside run_loop: its loop, its own context while loop fibers run, the loop fiber
// running now, and spares (fibers that continued a parked turn elsewhere and wait to be taken up).
struct LoopThread {
  void (*loop)(void*) = nullptr;
  void* arg = nullptr;
  Fiber::Impl native;
  std::unique_ptr<Fiber> running;
  std::vector<std::unique_ptr<Fiber>> spares;

  static constexpr size_t kSparesMax = 16;

  // From `from` (the code calling this) to `to`, on this thread. Returns when something switches
  // back to `from`, maybe on another thread.
  static void switch_fiber(Fiber::Impl& from, Fiber::Impl& to) {
    void* state = save_state();
    from.san.switch_to(to.san, false);
    ctx::fiber target = std::move(to.self);
    [[maybe_unused]] ctx::fiber back = std::move(target).resume_with([&from](ctx::fiber&& c) {
      from.self = std::move(c);
      return ctx::fiber{};
    });
    entered(from, state);
  }
  static void entered(Fiber::Impl& impl, void* state) {
    impl.san.switched_in();
    set_current(impl.owner);
    set_fiber_stack_low(impl.owner ? impl.owner->stack_low() : 0);
    restore_state(state);
  }
  static Fiber* make_loop_fiber(LoopThread& lt) { return new Fiber(lt.loop, lt.arg); }
  std::unique_ptr<Fiber> take_spare() {
    if (spares.empty()) return nullptr;
    auto spare = std::move(spares.back());
    spares.pop_back();
    return spare;
  }
};

namespace {
thread_local LoopThread* t_loop_thread = nullptr;
[[gnu::noinline]] LoopThread* loop_thread() { return t_loop_thread; }
[[gnu::noinline]] void set_loop_thread(LoopThread* lt) { t_loop_thread = lt; }
}  // namespace

Fiber::Fiber(void (*loop)(void*), void* arg) : impl_(std::make_unique<Impl>()) {
  Impl* impl = impl_.get();
  impl->owner = this;
  impl->san.created();
  impl->self = ctx::fiber(std::allocator_arg, PoolAllocator{&impl->san}, [impl, loop, arg](ctx::fiber&&) {
    LoopThread::entered(*impl, nullptr);  // (first entered by a switch_fiber, which passes nothing)
    try {
      loop(arg);
    } catch (const FiberUnwind::Unwinding&) {
      return FiberUnwind::finish(*impl);
    }
    // The loop has returned: back to the own context of the thread this fiber ends on.
    LoopThread* lt = loop_thread();
    impl->finished = true;
    impl->san.switch_to(lt->native.san, true);
    return std::move(lt->native.self);
  });
}

void Fiber::run_loop(void (*loop)(void*), void* arg) {
  LoopThread lt;
  lt.loop = loop;
  lt.arg = arg;
#if THEATER_TSAN
  lt.native.san.tsan_fiber = __tsan_get_current_fiber();
#endif
#if THEATER_ASAN
  const StackRange stack = thread_stack();
  lt.native.san.bottom = stack.bottom;
  lt.native.san.size = stack.size;
#endif
  set_loop_thread(&lt);
  lt.running.reset(LoopThread::make_loop_fiber(lt));
  LoopThread::switch_fiber(lt.native, *lt.running->impl_);
  // A loop fiber has returned from the loop. Each spare returns from it too once continued.
  while ((lt.running = lt.take_spare())) LoopThread::switch_fiber(lt.native, *lt.running->impl_);
  set_loop_thread(nullptr);
}

void Fiber::park_current(std::unique_ptr<Fiber>& keeper) {
  LoopThread* lt = loop_thread();
  Impl& self = *lt->running->impl_;
  keeper = std::move(lt->running);
  lt->running = lt->take_spare();
  if (!lt->running) lt->running.reset(LoopThread::make_loop_fiber(*lt));
  LoopThread::switch_fiber(self, *lt->running->impl_);
}

void Fiber::continue_here(std::unique_ptr<Fiber> parked) {
  LoopThread* lt = loop_thread();
  Impl& self = *lt->running->impl_;
  lt->spares.push_back(std::move(lt->running));
  lt->running = std::move(parked);
  if (lt->spares.size() > LoopThread::kSparesMax) {
    // The oldest spare is unwound (its frames below the turn it left hold nothing).
    lt->spares.erase(lt->spares.begin());
  }
  LoopThread::switch_fiber(self, *lt->running->impl_);
}

}  // namespace theater
