#include "scheduler/fiber.hpp"

#include <sys/mman.h>

#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>
#include <mutex>
#include <new>
#include <vector>

namespace theater {

namespace ctx = boost::context;

namespace {

// Stacks are large (deep wasm recursion runs on them) but mapped lazily, and recycled: a turn
// costs no mmap. The lowest page is a guard.
constexpr size_t kStackBytes = 4 << 20;
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
  ctx::stack_context allocate() { return pool().allocate(); }
  void deallocate(ctx::stack_context& sc) noexcept { pool().deallocate(sc); }
};

Fiber::ThreadStateHooks g_hooks;
thread_local Fiber* t_current = nullptr;

void* save_state() { return g_hooks.save ? g_hooks.save() : nullptr; }
void restore_state(void* s) {
  if (g_hooks.restore) g_hooks.restore(s);
}

}  // namespace

struct Fiber::Impl {
  ctx::fiber self;
  ctx::fiber caller;
  bool finished = false;
};

void Fiber::set_thread_state_hooks(ThreadStateHooks hooks) { g_hooks = hooks; }

Fiber::Fiber(std::function<void()> body) : impl_(std::make_unique<Impl>()) {
  Impl* impl = impl_.get();
  impl->self = ctx::fiber(std::allocator_arg, PoolAllocator{},
                          [impl, body = std::move(body)](ctx::fiber&& caller) mutable {
                            impl->caller = std::move(caller);
                            body();
                            impl->finished = true;
                            return std::move(impl->caller);
                          });
}

Fiber::~Fiber() = default;

void Fiber::resume() {
  Fiber* outer = t_current;
  void* state = save_state();
  t_current = this;
  impl_->self = std::move(impl_->self).resume();
  t_current = outer;
  restore_state(state);
}

void Fiber::suspend() {
  void* state = save_state();
  impl_->caller = std::move(impl_->caller).resume();
  // Possibly on another thread now: put this fiber's thread-bound state back.
  t_current = this;
  restore_state(state);
}

bool Fiber::finished() const { return impl_->finished; }

Fiber* Fiber::current() { return t_current; }

}  // namespace theater
