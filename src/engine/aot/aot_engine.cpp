#include "engine/aot/aot_engine.hpp"

#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csetjmp>
#include <deque>
#include <set>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.hpp"
#include "base/process.hpp"
#include "base/sha256.hpp"
#include "base/stack_bounds.hpp"
#include "engine/aot/wasm-rt.h"
#include "engine/instrument.hpp"
#include "engine/interp/interp_engine.hpp"
#include "engine/resolve.hpp"

namespace theater::engine {

extern const std::string_view kWasmRtHeader;
extern const std::string_view kWasmRtModuleSource;

namespace {

constexpr uint32_t kPageSize = 65536;
// The generated module compiles through this unit. It tells the compiler that the fuel-exhausted
// call is rare, so every fuel check stays a not-taken branch off the hot path. On x86-64 it also
// routes that call through a trampoline that saves every register a call may clobber, so that to
// the compiler the exhausted path is an asm statement that changes only eax and the flags and
// leaves memory alone: the loads of the linear memory's base and size then stay hoisted out of
// loops (a plain call would make the compiler reload them on every iteration). That is true of
// what the host does there: it returns the new fuel, may yield the actor to others or unwind it
// with a trap, and never writes this instance's memory or globals meanwhile. The asm steps over
// the red zone below the stack pointer, which the enclosing function may be using.
constexpr std::string_view kModuleUnit = R"(#include "module.h"
__attribute__((cold)) u32 Z_theaterZ___fuel_exhausted(struct Z_theater_instance_t*, u32);
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((visibility("hidden"), used, noinline))
u32 theater_fuel_slow(struct Z_theater_instance_t* ctx, u32 left) {
  return Z_theaterZ___fuel_exhausted(ctx, left);
}
__asm__(".text\n.p2align 4\n.hidden theater_fuel_trampoline\ntheater_fuel_trampoline:\n"
        "  push %rbp\n  mov %rsp,%rbp\n"
        "  push %rcx\n  push %rdx\n  push %rsi\n  push %rdi\n"
        "  push %r8\n  push %r9\n  push %r10\n  push %r11\n"
        "  and $-16,%rsp\n  sub $256,%rsp\n"
        "  movaps %xmm0,0(%rsp)\n  movaps %xmm1,16(%rsp)\n  movaps %xmm2,32(%rsp)\n"
        "  movaps %xmm3,48(%rsp)\n  movaps %xmm4,64(%rsp)\n  movaps %xmm5,80(%rsp)\n"
        "  movaps %xmm6,96(%rsp)\n  movaps %xmm7,112(%rsp)\n  movaps %xmm8,128(%rsp)\n"
        "  movaps %xmm9,144(%rsp)\n  movaps %xmm10,160(%rsp)\n  movaps %xmm11,176(%rsp)\n"
        "  movaps %xmm12,192(%rsp)\n  movaps %xmm13,208(%rsp)\n  movaps %xmm14,224(%rsp)\n"
        "  movaps %xmm15,240(%rsp)\n"
        "  mov %eax,%esi\n  call theater_fuel_slow\n"
        "  movaps 0(%rsp),%xmm0\n  movaps 16(%rsp),%xmm1\n  movaps 32(%rsp),%xmm2\n"
        "  movaps 48(%rsp),%xmm3\n  movaps 64(%rsp),%xmm4\n  movaps 80(%rsp),%xmm5\n"
        "  movaps 96(%rsp),%xmm6\n  movaps 112(%rsp),%xmm7\n  movaps 128(%rsp),%xmm8\n"
        "  movaps 144(%rsp),%xmm9\n  movaps 160(%rsp),%xmm10\n  movaps 176(%rsp),%xmm11\n"
        "  movaps 192(%rsp),%xmm12\n  movaps 208(%rsp),%xmm13\n  movaps 224(%rsp),%xmm14\n"
        "  movaps 240(%rsp),%xmm15\n"
        "  lea -64(%rbp),%rsp\n"
        "  pop %r11\n  pop %r10\n  pop %r9\n  pop %r8\n"
        "  pop %rdi\n  pop %rsi\n  pop %rdx\n  pop %rcx\n"
        "  pop %rbp\n  ret\n");
static inline __attribute__((always_inline))
u32 theater_fuel_fast(struct Z_theater_instance_t* ctx, u32 left) {
  goto exhausted;
exhausted: __attribute__((cold));
  __asm__ volatile("lea -128(%%rsp),%%rsp\n\tcall theater_fuel_trampoline\n\tlea 128(%%rsp),%%rsp"
                   : "+a"(left) : "D"(ctx) : "cc");
  return left;
}
#define Z_theaterZ___fuel_exhausted theater_fuel_fast
#endif
#include "module.c"
)";
const std::vector<std::string> kCompileFlags = {"-fPIC", "-shared", "-w", "-fno-strict-aliasing",
                                                "-fstack-clash-protection", "-Wl,-Bsymbolic"};
constexpr int kHostTrapCode = 100;      // longjmp value: the pending trap of the instance
// A host function may need this much stack (formatting, allocation, the runtime's own calls);
// wasm that calls the host with less left gets StackExhausted instead.
constexpr uintptr_t kHostStackReserve = 256 << 10;

// ---- per-thread unwind target ------------------------------------------------------------------

struct CallFrame {
  std::jmp_buf jmp;
  CallFrame* outer;
  uintptr_t stack_low;   // of the stack this call runs on (see rt_host_call)
  bool in_host = false;  // a host function is running: a fault now is the host's, not wasm's
};
thread_local CallFrame* t_innermost = nullptr;
// Set while a module instantiates: allocate_memory reserves this many pages.
thread_local uint32_t t_reserve_pages = 0;

// Thread-local access only through these non-inlined functions: a call into wasm may suspend the
// actor's fiber and resume it on another thread, and a thread-local address computed before
// that must not be reused after it.
[[gnu::noinline]] CallFrame* innermost() { return t_innermost; }
[[gnu::noinline]] void set_innermost(CallFrame* f) { t_innermost = f; }
[[gnu::noinline]] uint32_t reserve_pages() { return t_reserve_pages; }
[[gnu::noinline]] void set_reserve_pages(uint32_t pages) { t_reserve_pages = pages; }

[[noreturn]] void rt_trap(wasm_rt_trap_t code) {
  // Generated code and host_call only run inside AotInstance::call, so a frame always exists.
  std::longjmp(innermost()->jmp, static_cast<int>(code) + 1);
}

// ---- native stack overflow ---------------------------------------------------------------------
// Generated code keeps no call-depth count (it cost more than the fuel checks): deep recursion
// runs into the guard page below the stack (a fiber's or a thread's), and every frame probes its
// pages in order (-fstack-clash-protection), so it cannot jump over the guard. A SIGSEGV whose
// address lies just below the interrupted stack pointer, while wasm code itself runs (not a host
// function it called), becomes a StackExhausted trap for that actor: wasm code holds no locks and
// owns no host objects, so unwinding it is safe. Host functions never start with less than
// kHostStackReserve left (rt_host_call), so they do not overflow. Any other SIGSEGV is a real
// crash and is re-raised with the default action. The handler runs on a per-thread alternate
// stack (the faulting one is exhausted).

constexpr size_t kAltStackBytes = 64 << 10;
constexpr uintptr_t kOverflowWindow = 64 << 10;
thread_local bool t_alt_stack_ready = false;

[[gnu::noinline]] bool alt_stack_ready() { return t_alt_stack_ready; }

// Links `frame` in as this thread's innermost and tells whether the thread has its alternate
// signal stack yet: one call on the way into wasm, where there were three.
[[gnu::noinline]] bool push_frame(CallFrame* frame) {
  frame->outer = t_innermost;
  t_innermost = frame;
  return t_alt_stack_ready;
}
[[gnu::noinline]] void set_alt_stack_ready() { t_alt_stack_ready = true; }

void on_segv(int sig, siginfo_t* info, void* context) {
  auto* uc = static_cast<ucontext_t*>(context);
  const auto sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  CallFrame* frame = innermost();
  // A push faults just below sp, a frame store up to a frame's size below it, a call at sp-8.
  const bool near_sp = addr >= sp ? addr - sp < 4096 : sp - addr < kOverflowWindow;
  if (frame && !frame->in_host && near_sp) {
    std::longjmp(frame->jmp, static_cast<int>(WASM_RT_TRAP_EXHAUSTION) + 1);
  }
  ::signal(sig, SIG_DFL);  // not ours: crash as the process would have
  ::raise(sig);
}

void install_overflow_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;  // NODEFER: we leave by longjmp
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, nullptr);
  });
  if (!alt_stack_ready()) {
    stack_t ss{};
    ss.ss_sp = ::mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ss.ss_size = kAltStackBytes;
    if (ss.ss_sp != MAP_FAILED && ::sigaltstack(&ss, nullptr) == 0) set_alt_stack_ready();
  }
}

// ---- linear memory: one private mapping of the limit, touched lazily ----------------------------
// Bounds checks are in the generated code, so the mapping needs no guard region; pages that the
// actor never touches cost no RAM. A header page in front records the mapping's size. Freed
// mappings are zeroed and kept for reuse: munmap costs a TLB shootdown on every core, and a fresh
// mapping a page fault for the header, which made instantiation ~50x slower than the rest of it.

struct MemoryHeader {
  size_t mapped_bytes;
};
constexpr size_t kHeaderBytes = 4096;
constexpr size_t kPoolPerSize = 256;
constexpr size_t kZeroByHandMax = 256 << 10;  // larger dirty ranges go back to the kernel

class MappingPool {
 public:
  // Zeroes [data, data + len) (page-aligned). Only the pages the instance touched hold data, and
  // only they are resident (mincore says which): writing zeros over the others would fault them
  // in for nothing. Past kZeroByHandMax of resident pages, the range goes back to the kernel.
  static void zero(uint8_t* data, size_t len) {
    static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t pages = (len + page - 1) / page;
    thread_local std::vector<unsigned char> resident;
    resident.resize(pages);
    if (::mincore(data, pages * page, resident.data()) != 0) {
      std::memset(data, 0, len);
      return;
    }
    size_t count = 0;
    for (unsigned char r : resident) count += r & 1;
    if (count * page > kZeroByHandMax) {
      ::madvise(data, len, MADV_DONTNEED);  // private anonymous: reads back as zeros
      return;
    }
    for (size_t i = 0; i < pages; ++i) {
      if (resident[i] & 1) std::memset(data + i * page, 0, std::min(page, len - i * page));
    }
  }

  void* take(size_t bytes) {
    std::lock_guard lock(mutex_);
    auto& list = free_[bytes];
    if (list.empty()) return nullptr;
    void* base = list.back();
    list.pop_back();
    return base;
  }
  // `dirty` bytes after the header may be non-zero.
  void give(void* base, size_t bytes, size_t dirty) {
    bool keep;
    {
      std::lock_guard lock(mutex_);
      keep = free_[bytes].size() < kPoolPerSize;
    }
    if (!keep) {
      ::munmap(base, bytes);
      return;
    }
    zero(static_cast<uint8_t*>(base) + kHeaderBytes, dirty);  // outside the lock
    std::lock_guard lock(mutex_);
    free_[bytes].push_back(base);  // (concurrent gives may pass the bound by a few)
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
};

MappingPool& mapping_pool() {
  static auto* pool = new MappingPool();  // never destroyed: instances may outlive statics
  return *pool;
}

void rt_allocate_memory(wasm_rt_memory_t* m, uint32_t initial, uint32_t max) {
  uint64_t reserve = std::max<uint64_t>(reserve_pages(), initial);
  if (max != UINT32_MAX) reserve = std::min<uint64_t>(reserve, max);
  reserve = std::max<uint64_t>(reserve, initial);
  const size_t bytes = kHeaderBytes + reserve * kPageSize;
  void* base = mapping_pool().take(bytes);
  if (!base) {
    base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                  -1, 0);
    if (base == MAP_FAILED) rt_trap(WASM_RT_TRAP_EXHAUSTION);  // an error for this actor only
    static_cast<MemoryHeader*>(base)->mapped_bytes = bytes;
  }
  m->data = static_cast<uint8_t*>(base) + kHeaderBytes;
  m->pages = initial;
  m->max_pages = max;
  m->size = initial * kPageSize;
}

size_t reserved_pages(const wasm_rt_memory_t* m) {
  auto* header = reinterpret_cast<const MemoryHeader*>(m->data - kHeaderBytes);
  return (header->mapped_bytes - kHeaderBytes) / kPageSize;
}

uint32_t rt_grow_memory(wasm_rt_memory_t* m, uint32_t delta) {
  const uint64_t wanted = static_cast<uint64_t>(m->pages) + delta;
  if (wanted > m->max_pages || wanted > reserved_pages(m)) return UINT32_MAX;
  const uint32_t old = m->pages;
  m->pages = static_cast<uint32_t>(wanted);
  m->size = m->pages * kPageSize;  // pages < 65536, so this fits
  return old;
}

void rt_free_memory(wasm_rt_memory_t* m) {
  if (!m->data) return;
  void* base = m->data - kHeaderBytes;
  mapping_pool().give(base, static_cast<MemoryHeader*>(base)->mapped_bytes, m->size);
  m->data = nullptr;
}

uint64_t rt_host_call(void* ctx, uint32_t slot, const uint64_t* args);

const theater_rt_api kRtApi = {
    THEATER_RT_API_VERSION, rt_trap, rt_host_call, rt_allocate_memory, rt_grow_memory,
    rt_free_memory,
};

// ---- the loaded shared object ------------------------------------------------------------------

struct SharedObject {
  void* handle = nullptr;
  size_t (*instance_size)() = nullptr;
  void (*instantiate)(void*, void*) = nullptr;
  void (*free_instance)(void*) = nullptr;
  wasm_rt_memory_t* (*memory)(void*) = nullptr;
  uint32_t* (*fuel)(void*) = nullptr;
  std::unordered_map<std::string, theater_export_fn> exports;
  ~SharedObject() {
    if (handle) ::dlclose(handle);
  }
};

class AotModule;

// The context every import-context pointer of an instance points at. `head` must come first:
// generated code reads the call depth through it (see wasm-rt.h).
struct HostContext {
  theater_rt_ctx head;
  class AotInstance* self;
  const HostFunction* slots;
};

class AotInstance final : public Instance {
 public:
  AotInstance(std::shared_ptr<const AotModule> module, const InstanceLimits& limits, void* user);
  ~AotInstance() override;

  bool has_function(std::string_view name) const override;
  std::optional<Trap> call(std::string_view name, std::span<const uint64_t> args,
                           std::span<uint64_t> results) override;
  ExportFn find_function(std::string_view name) const override;
  std::optional<Trap> call(const ExportFn& fn, std::span<const uint64_t> args,
                           std::span<uint64_t> results) override;
  std::span<uint8_t> memory() override;
  std::optional<uint32_t> grow_memory(uint32_t delta_pages) override;
  uint32_t declared_max_pages() const override;
  void set_fuel(int32_t units) override;
  void interrupt() override;

  void instantiate();
  // Runs fn(target, args, results) and turns a trap anywhere inside it into a Trap value.
  std::optional<Trap> guarded(theater_export_fn fn, void* target, const uint64_t* args,
                              uint64_t* results);

 private:
  std::shared_ptr<const AotModule> module_;
  HostContext ctx_;
  std::unique_ptr<uint8_t[]> storage_;  // wasm2c's instance struct
  wasm_rt_memory_t* memory_ = nullptr;   // inside storage_, once instantiated
  uint32_t* fuel_ = nullptr;             // the fuel global, inside storage_
  bool instantiated_ = false;
};

class AotModule final : public Module, public std::enable_shared_from_this<AotModule> {
 public:
  struct Export {
    theater_export_fn fn;
    // The signature's arity (from info_), checked at every call; UINT32_MAX when the module's
    // info does not name the export (every call is refused).
    uint32_t params = UINT32_MAX, results = 0;
  };

  AotModule(ModuleInfo info, std::shared_ptr<SharedObject> so, std::vector<HostFunction> slots)
      : so_(std::move(so)), slots_(std::move(slots)) {
    info_ = std::move(info);
    for (const auto& [name, fn] : so_->exports) {
      Export e{fn};
      if (const FuncExport* sig = info_.find_function(name)) {
        e.params = static_cast<uint32_t>(sig->sig.params.size());
        e.results = static_cast<uint32_t>(sig->sig.results.size());
      }
      exports_.push_back({name, e});
    }
  }
  std::unique_ptr<Instance> instantiate(const InstanceLimits& limits, void* user) override {
    if (info_.memory_initial_pages > limits.max_memory_pages) {
      throw LoadError(fmt::format("module needs {} pages of memory at start, the limit is {}",
                                  info_.memory_initial_pages, limits.max_memory_pages));
    }
    auto instance = std::make_unique<AotInstance>(shared_from_this(), limits, user);
    instance->instantiate();
    return instance;
  }
  Tier tier() const override { return Tier::Aot; }

  const SharedObject& so() const { return *so_; }
  const HostFunction* slots() const { return slots_.data(); }
  // A call names its export every time: a short list, compared length first, beats hashing.
  const Export* find_export(std::string_view name) const {
    for (const auto& [n, e] : exports_) {
      if (n.size() == name.size() && std::memcmp(n.data(), name.data(), name.size()) == 0) return &e;
    }
    return nullptr;
  }

 private:
  std::shared_ptr<SharedObject> so_;
  std::vector<HostFunction> slots_;
  std::vector<std::pair<std::string, Export>> exports_;
};

// A module served by the interpreter until its native build is ready (interp_while_compiling).
// Both tiers run the same instrumented module and pass one test suite, so an actor cannot tell
// which tier an instance came from, except by its speed.
class TieredModule final : public Module {
 public:
  explicit TieredModule(std::shared_ptr<Module> interp) : interp_(std::move(interp)) {
    info_ = interp_->info();
  }
  std::unique_ptr<Instance> instantiate(const InstanceLimits& limits, void* user) override {
    return current().instantiate(limits, user);
  }
  Tier tier() const override { return current().tier(); }
  void tier_up(std::shared_ptr<Module> native) {
    native_ = std::move(native);  // written once, before ready_ is published
    ready_.store(true, std::memory_order_release);
  }

 private:
  Module& current() const { return ready_.load(std::memory_order_acquire) ? *native_ : *interp_; }
  std::shared_ptr<Module> interp_, native_;
  std::atomic<bool> ready_{false};
};

uint64_t rt_host_call(void* ctx, uint32_t slot, const uint64_t* args) {
  auto* c = static_cast<HostContext*>(ctx);
  // The frame lives on this stack, so the pointer stays valid if the host function suspends the
  // fiber and it resumes on another thread.
  CallFrame* frame = innermost();
  const auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (UNLIKELY(sp < frame->stack_low + kHostStackReserve)) {
    std::longjmp(frame->jmp, static_cast<int>(WASM_RT_TRAP_EXHAUSTION) + 1);
  }
  frame->in_host = true;
  const uint64_t result = c->slots[slot](*c->self, args);
  frame->in_host = false;
  // All of the host function's objects are destroyed by now, so unwinding from here is safe.
  if (UNLIKELY(c->self->pending_trap().has_value())) std::longjmp(innermost()->jmp, kHostTrapCode);
  return result;
}

TrapKind trap_kind(int code) {
  switch (static_cast<wasm_rt_trap_t>(code - 1)) {
    case WASM_RT_TRAP_OOB: return TrapKind::OutOfBounds;
    case WASM_RT_TRAP_INT_OVERFLOW: return TrapKind::IntegerOverflow;
    case WASM_RT_TRAP_DIV_BY_ZERO: return TrapKind::DivideByZero;
    case WASM_RT_TRAP_INVALID_CONVERSION: return TrapKind::InvalidConversion;
    case WASM_RT_TRAP_UNREACHABLE: return TrapKind::Unreachable;
    case WASM_RT_TRAP_CALL_INDIRECT: return TrapKind::IndirectCallMismatch;
    case WASM_RT_TRAP_EXHAUSTION: return TrapKind::StackExhausted;
    default: return TrapKind::Unreachable;
  }
}

const char* trap_message(TrapKind kind) {
  switch (kind) {
    case TrapKind::OutOfBounds: return "out-of-bounds memory or table access";
    case TrapKind::IntegerOverflow: return "integer overflow";
    case TrapKind::DivideByZero: return "integer divide by zero";
    case TrapKind::InvalidConversion: return "invalid conversion to integer";
    case TrapKind::Unreachable: return "unreachable executed";
    case TrapKind::IndirectCallMismatch: return "indirect call to a null or mismatched function";
    case TrapKind::StackExhausted: return "call stack exhausted";
    default: return "trap";
  }
}

AotInstance::AotInstance(std::shared_ptr<const AotModule> module, const InstanceLimits& limits,
                         void* user)
    : module_(std::move(module)) {
  this->limits = limits;
  this->user = user;
  ctx_.head.abi_version = THEATER_RT_API_VERSION;
  ctx_.self = this;
  ctx_.slots = module_->slots();
  storage_ = std::make_unique<uint8_t[]>(module_->so().instance_size());
  std::memset(storage_.get(), 0, module_->so().instance_size());
  if (auto* fuel = module_->so().fuel) fuel_ = fuel(storage_.get());
}

AotInstance::~AotInstance() {
  leave_interrupt_slot();
  if (!instantiated_) return;
  // Freeing runs no wasm; memory and tables are released by our runtime functions.
  module_->so().free_instance(storage_.get());
}

void AotInstance::instantiate() {
  set_reserve_pages(limits.max_memory_pages);
  auto entry = [](void* self_ptr, const uint64_t*, uint64_t*) {
    auto* self = static_cast<AotInstance*>(self_ptr);
    self->module_->so().instantiate(self->storage_.get(), &self->ctx_);
  };
  auto trap = guarded(entry, this, nullptr, nullptr);
  set_reserve_pages(0);
  // Data or element segments out of range trap during instantiation: a bad module, not a crash.
  if (trap) throw LoadError("instantiation failed: " + trap->message);
  instantiated_ = true;
  // The memory's descriptor sits in the instance for its whole life (data and size change on
  // growth, the descriptor does not): host functions read memory several times per message.
  if (auto* get = module_->so().memory) memory_ = get(storage_.get());
  set_fuel(kDefaultFuel);
}

std::optional<Trap> AotInstance::guarded(theater_export_fn fn, void* target,
                                         const uint64_t* args, uint64_t* results) {
  // Once per thread: the SIGSEGV handler (once per process) and an alternate stack for it. Its
  // std::call_once costs more than this test, on every call into wasm.
  CallFrame frame;
  frame.stack_low = current_stack_low();
  if (UNLIKELY(!push_frame(&frame))) install_overflow_handler();
  // Everything live across setjmp is either unmodified or volatile-free POD; see rt_host_call.
  if (int code = setjmp(frame.jmp); code != 0) {
    set_innermost(frame.outer);
    if (code == kHostTrapCode) {
      Trap trap = std::move(*pending_);
      pending_.reset();
      return trap;
    }
    const TrapKind kind = trap_kind(code);
    return Trap{kind, trap_message(kind)};
  }
  fn(target, args, results);
  set_innermost(frame.outer);
  return std::nullopt;
}

bool AotInstance::has_function(std::string_view name) const { return module_->find_export(name) != nullptr; }

std::optional<Trap> AotInstance::call(std::string_view name, std::span<const uint64_t> args,
                                      std::span<uint64_t> results) {
  return call(ExportFn{module_->find_export(name), name}, args, results);
}

ExportFn AotInstance::find_function(std::string_view name) const { return {module_->find_export(name), name}; }

std::optional<Trap> AotInstance::call(const ExportFn& fn, std::span<const uint64_t> args,
                                      std::span<uint64_t> results) {
  const auto* ex = static_cast<const AotModule::Export*>(fn.handle);
  if (!ex) return Trap{TrapKind::Host, fmt::format("no exported function '{}'", fn.name)};
  if (ex->params != args.size() || ex->results > results.size()) {
    return Trap{TrapKind::Host, fmt::format("wrong number of arguments or results for '{}'", fn.name)};
  }
  uint64_t scratch[8] = {};
  return guarded(ex->fn, storage_.get(), args.data(), results.empty() ? scratch : results.data());
}

std::span<uint8_t> AotInstance::memory() {
  wasm_rt_memory_t* m = memory_;
  if (!m) {  // (still instantiating)
    auto* get = module_->so().memory;
    if (!get) return {};
    m = get(storage_.get());
  }
  return {m->data, m->size};
}

std::optional<uint32_t> AotInstance::grow_memory(uint32_t delta_pages) {
  auto* get = module_->so().memory;
  if (!get) return std::nullopt;
  const uint32_t old = rt_grow_memory(get(storage_.get()), delta_pages);
  if (old == UINT32_MAX) return std::nullopt;
  return old;
}

uint32_t AotInstance::declared_max_pages() const { return module_->info().memory_max_pages; }

void AotInstance::set_fuel(int32_t units) {
  if (fuel_) std::atomic_ref<uint32_t>(*fuel_).store(static_cast<uint32_t>(units), std::memory_order_relaxed);
}

void AotInstance::interrupt() {
  if (fuel_) std::atomic_ref<uint32_t>(*fuel_).store(UINT32_MAX, std::memory_order_relaxed);  // -1
}

// ---- compiling ---------------------------------------------------------------------------------

// wasm2c's name mangling (1.0.32): [A-Za-z0-9_] except 'Z' pass through, the rest become Z<hex>.
std::string mangle(std::string_view name) {
  std::string out;
  for (unsigned char c : name) {
    if ((std::isalnum(c) || c == '_') && c != 'Z') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("Z{:02X}", c);
    }
  }
  return out;
}

const char* c_type(ValType t) {
  switch (t) {
    case ValType::I32: return "u32";
    case ValType::I64: return "u64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
  }
  return "u32";
}

// Bit-exact conversion between u64 slots and the C value types.
std::string from_slot(ValType t, const std::string& slot) {
  switch (t) {
    case ValType::I32: return fmt::format("(u32){}", slot);
    case ValType::I64: return fmt::format("(u64){}", slot);
    case ValType::F32: return fmt::format("theater_f32({})", slot);
    case ValType::F64: return fmt::format("theater_f64({})", slot);
  }
  return slot;
}
std::string to_slot(ValType t, const std::string& value) {
  switch (t) {
    case ValType::I32: return fmt::format("(uint64_t)(u32)({})", value);
    case ValType::I64: return fmt::format("(uint64_t)({})", value);
    case ValType::F32: return fmt::format("theater_slot_f32({})", value);
    case ValType::F64: return fmt::format("theater_slot_f64({})", value);
  }
  return value;
}

// The fuel global is written by other threads while the code runs (Instance::interrupt): the
// compiler must read it at every check, never once for a whole loop, so it becomes volatile in
// the instance struct wasm2c declares (its exported name gives its field name).
void make_fuel_volatile(const std::filesystem::path& header, std::string_view label) {
  std::string text = read_file_text(header);
  const std::string field = fmt::format("  u32 w2c_{};", kFuelExport);
  const auto at = text.find(field + "\n");
  if (at == std::string::npos) {
    throw LoadError(fmt::format("{}: wasm2c's output has no field for the fuel global (a bug in the engine)", label));
  }
  text.insert(at + 2, "volatile ");
  write_file_atomic(header, text);
}

// The per-module glue: import functions forwarding to the host, uniform export trampolines, and
// the entry points the host looks up with dlsym.
std::string make_glue(const ModuleInfo& info) {
  std::string g = R"(#include "module.h"
#include <string.h>
extern void theater_module_bind(const theater_rt_api*);
static const theater_rt_api* theater_glue_rt;
void theater_glue_bind(const theater_rt_api* api) { theater_glue_rt = api; theater_module_bind(api); }
static inline f32 theater_f32(uint64_t s) { u32 b = (u32)s; f32 v; memcpy(&v, &b, 4); return v; }
static inline f64 theater_f64(uint64_t s) { f64 v; memcpy(&v, &s, 8); return v; }
static inline uint64_t theater_slot_f32(f32 v) { u32 b; memcpy(&b, &v, 4); return b; }
static inline uint64_t theater_slot_f64(f64 v) { uint64_t b; memcpy(&b, &v, 8); return b; }
)";
  std::vector<std::string> import_modules;
  for (size_t i = 0; i < info.imports.size(); ++i) {
    const auto& imp = info.imports[i];
    if (std::find(import_modules.begin(), import_modules.end(), imp.module) == import_modules.end()) {
      import_modules.push_back(imp.module);
    }
    const auto& sig = imp.sig;
    std::string params = fmt::format("struct Z_{}_instance_t* ctx", mangle(imp.module));
    std::string pack;
    for (size_t p = 0; p < sig.params.size(); ++p) {
      params += fmt::format(", {} a{}", c_type(sig.params[p]), p);
      pack += (p ? ", " : "") + to_slot(sig.params[p], fmt::format("a{}", p));
    }
    const std::string ret = sig.results.empty() ? "void" : c_type(sig.results[0]);
    g += fmt::format("{} Z_{}Z_{}({}) {{\n  uint64_t args[{}] = {{{}}};\n", ret, mangle(imp.module),
                     mangle(imp.name), params, std::max<size_t>(1, sig.params.size()),
                     pack.empty() ? "0" : pack);
    const std::string call = fmt::format("theater_glue_rt->host_call(ctx, {}u, args)", i);
    if (sig.results.empty()) {
      g += fmt::format("  {};\n}}\n", call);
    } else {
      g += fmt::format("  return {};\n}}\n", from_slot(sig.results[0], call));
    }
  }
  // wasm2c orders the instantiate parameters by module name.
  std::sort(import_modules.begin(), import_modules.end());
  std::string ctx_args;
  for (const auto& m : import_modules) ctx_args += fmt::format(", (struct Z_{}_instance_t*)ctx", mangle(m));
  g += fmt::format(
      "size_t theater_instance_size(void) {{ return sizeof(Z_actor_instance_t); }}\n"
      "void theater_init_module(void) {{ Z_actor_init_module(); }}\n"
      "void theater_instantiate(void* inst, void* ctx) {{ Z_actor_instantiate((Z_actor_instance_t*)inst{}); }}\n"
      "void theater_free_instance(void* inst) {{ Z_actor_free((Z_actor_instance_t*)inst); }}\n",
      ctx_args);
  if (info.exports_memory) {
    g += "wasm_rt_memory_t* theater_memory(void* inst) { return Z_actorZ_memory((Z_actor_instance_t*)inst); }\n";
  }
  g += fmt::format("u32* theater_fuel(void* inst) {{ return Z_actorZ_{}((Z_actor_instance_t*)inst); }}\n",
                   mangle(kFuelExport));
  std::string table;
  for (size_t i = 0; i < info.functions.size(); ++i) {
    const auto& ex = info.functions[i];
    std::string args;
    for (size_t p = 0; p < ex.sig.params.size(); ++p) {
      args += ", " + from_slot(ex.sig.params[p], fmt::format("a[{}]", p));
    }
    std::string call = fmt::format("Z_actorZ_{}((Z_actor_instance_t*)inst{})", mangle(ex.name), args);
    std::string body;
    if (ex.sig.results.empty()) {
      body = call + ";";
    } else if (ex.sig.results.size() == 1) {
      body = fmt::format("r[0] = {};", to_slot(ex.sig.results[0], call));
    } else {
      continue;  // multi-value exports are not callable through the host (no ABI export is one)
    }
    g += fmt::format("static void theater_x{}(void* inst, const uint64_t* a, uint64_t* r) {{ (void)a; (void)r; {} }}\n",
                     i, body);
    table += fmt::format("  {{\"{}\", theater_x{}}},\n", ex.name, i);
  }
  g += fmt::format("const theater_export theater_exports[] = {{\n{}  {{0, 0}}\n}};\n", table);
  return g;
}

std::string compiler_identity(const std::string& cc) {
  auto r = run_process({cc, "--version"});
  auto line = r.output.substr(0, r.output.find('\n'));
  return line;
}

class AotEngine final : public Engine {
 public:
  AotEngine(EngineConfig config, std::string cc, std::string wasm2c)
      : config_(std::move(config)), cc_(std::move(cc)), wasm2c_(std::move(wasm2c)) {
    if (config_.cache_dir.empty()) {
      if (const char* env = std::getenv("THEATER_CACHE")) {
        config_.cache_dir = env;
      } else if (const char* home = std::getenv("HOME")) {
        config_.cache_dir = std::filesystem::path(home) / ".cache" / "theater";
      } else {
        config_.cache_dir = "/tmp/theater-cache";
      }
    }
    std::filesystem::create_directories(config_.cache_dir);
    // ("volatile-fuel": make_fuel_volatile edits wasm2c's output, which none of the rest names.)
    toolchain_id_ = sha256_hex(fmt::format("{}|{}|{}|{}|{}|{}|{}|volatile-fuel", THEATER_VERSION, compiler_identity(cc_),
                                           config_.opt_level, fmt::join(kCompileFlags, " "), kModuleUnit,
                                           kWasmRtHeader, kWasmRtModuleSource));
  }

  Tier tier() const override { return Tier::Aot; }
  EngineStats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  ~AotEngine() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      jobs_.clear();
    }
    jobs_cv_.notify_all();
    if (compiler_.joinable()) compiler_.join();  // a compile in progress finishes first
  }

  std::shared_ptr<Module> load(std::span<const uint8_t> wasm, const Linker& linker,
                               std::string_view label) override {
    auto p = prepare_module(wasm, linker, label, config_.fuel_checks);
    const std::string key = sha256_hex(p.instrumented) + "-" + toolchain_id_.substr(0, 16);
    if (config_.interp_while_compiling && !compiled(key)) {
      auto tiered = std::make_shared<TieredModule>(interpreter().load(wasm, linker, label));
      enqueue_compile({key, std::move(p), std::string(label), tiered});
      return tiered;
    }
    return native_module(key, std::move(p), label);
  }

 private:
  struct CompileJob {
    std::string key;
    PreparedModule prepared;
    std::string label;
    std::weak_ptr<TieredModule> target;
  };

  std::shared_ptr<Module> native_module(const std::string& key, PreparedModule p, std::string_view label) {
    auto so = shared_object(key, p.instrumented, p.linked, label);
    // The caller sees the module as written, with the instrumented exports' trampolines behind it.
    return std::make_shared<AotModule>(std::move(p.info), std::move(so), std::move(p.slots));
  }

  bool compiled(const std::string& key) {
    std::lock_guard lock(mutex_);
    if (auto it = loaded_.find(key); it != loaded_.end() && !it->second.expired()) return true;
    return std::filesystem::exists(config_.cache_dir / (key + ".so"));
  }

  Engine& interpreter() {
    std::lock_guard lock(mutex_);
    if (!interp_) interp_ = make_interp_engine(config_);
    return *interp_;
  }

  void enqueue_compile(CompileJob job) {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
    if (!compiler_.joinable()) compiler_ = std::thread([this] { compile_jobs(); });
    jobs_cv_.notify_one();
  }

  // The background compiler: one module at a time (a second compiler would only compete with
  // the workers for the cores).
  void compile_jobs() {
    for (;;) {
      CompileJob job;
      {
        std::unique_lock lock(mutex_);
        jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      if (job.target.expired()) continue;  // nobody uses the module any more
      try {
        auto native = native_module(job.key, std::move(job.prepared), job.label);
        if (auto target = job.target.lock()) target->tier_up(std::move(native));
      } catch (const std::exception& e) {
        // The interpreter goes on serving it: slower, but the actor works.
        spdlog::warn("{}", e.what());
      }
    }
  }

  // The compiled object for key: from memory, the disk cache, or the C compiler. The engine's
  // lock is not held while compiling: other modules load meanwhile; loaders of the same key wait.
  std::shared_ptr<SharedObject> shared_object(const std::string& key, std::span<const uint8_t> wasm,
                                              const ModuleInfo& info, std::string_view label) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (auto it = loaded_.find(key); it != loaded_.end()) {
        if (auto so = it->second.lock()) {
          ++stats_.memory_hits;
          return so;
        }
      }
      if (!compiling_.contains(key)) break;
      compiled_cv_.wait(lock);
    }
    const auto so_path = config_.cache_dir / (key + ".so");
    if (std::filesystem::exists(so_path)) {
      ++stats_.cache_hits;
    } else {
      compiling_.insert(key);
      lock.unlock();
      std::exception_ptr failed;
      try {
        compile(wasm, info, so_path, label);
      } catch (...) {
        failed = std::current_exception();
      }
      lock.lock();
      compiling_.erase(key);
      compiled_cv_.notify_all();
      if (failed) std::rethrow_exception(failed);
      ++stats_.compiles;
    }
    auto so = open(so_path, info, label);
    loaded_[key] = so;
    return so;
  }

  void compile(std::span<const uint8_t> wasm, const ModuleInfo& info,
               const std::filesystem::path& so_path, std::string_view label) {
    auto progress = [&](std::string_view step, double fraction) {
      if (config_.progress) config_.progress(fmt::format("compiling {}: {}", label, step), fraction);
    };
    const auto started = std::chrono::steady_clock::now();
    char tmpl[] = "/tmp/theater-aot-XXXXXX";
    if (!::mkdtemp(tmpl)) throw LoadError(fmt::format("{}: cannot create a build folder", label));
    const std::filesystem::path dir = tmpl;
    struct Cleanup {
      std::filesystem::path dir;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    } cleanup{dir};
    write_file_atomic(dir / "module.wasm", wasm);
    write_file_atomic(dir / "wasm-rt.h", kWasmRtHeader);
    write_file_atomic(dir / "wasm-rt-module.c", kWasmRtModuleSource);
    progress("wasm2c", 0.05);
    const auto timeout = config_.compile_timeout;
    auto too_long = [&](std::string_view what) {
      return LoadError(fmt::format("{}: {} ran past its limit of {:g} s and was stopped (EngineConfig::compile_timeout)",
                                   label, what, static_cast<double>(timeout.count()) / 1000));
    };
    auto w = run_process({wasm2c_, (dir / "module.wasm").string(), "-n", "actor", "-o",
                          (dir / "module.c").string()}, timeout);
    if (w.timed_out) throw too_long("wasm2c");
    if (w.exit_code != 0) throw LoadError(fmt::format("{}: wasm2c failed: {}", label, w.output));
    make_fuel_volatile(dir / "module.h", label);
    write_file_atomic(dir / "glue.c", make_glue(info));
    write_file_atomic(dir / "unit.c", kModuleUnit);
    progress("C compiler", 0.2);
    const auto tmp_so = so_path.string() + ".tmp." + std::to_string(::getpid());
    std::vector<std::string> command = {cc_, config_.opt_level};
    command.insert(command.end(), kCompileFlags.begin(), kCompileFlags.end());
    command.insert(command.end(), {"-I", dir.string(), (dir / "unit.c").string(),
                                   (dir / "glue.c").string(), (dir / "wasm-rt-module.c").string(),
                                   "-lm", "-o", tmp_so});
    auto c = run_process(command, timeout);
    if (c.timed_out || c.exit_code != 0) {
      std::filesystem::remove(tmp_so);
      if (c.timed_out) throw too_long("the C compiler");
      throw LoadError(fmt::format("{}: C compiler failed: {}", label, c.output.substr(0, 2000)));
    }
    std::filesystem::rename(tmp_so, so_path);  // atomic: a concurrent loader sees all or nothing
    const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::debug("compiled {} in {:.2f}s", label, secs);
    progress("done", 1.0);
  }

  std::shared_ptr<SharedObject> open(const std::filesystem::path& path, const ModuleInfo& info,
                                     std::string_view label) {
    auto so = std::make_shared<SharedObject>();
    so->handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!so->handle) throw LoadError(fmt::format("{}: cannot load compiled module: {}", label, ::dlerror()));
    auto sym = [&](const char* name) {
      void* p = ::dlsym(so->handle, name);
      if (!p) throw LoadError(fmt::format("{}: compiled module lacks {}", label, name));
      return p;
    };
    reinterpret_cast<void (*)(const theater_rt_api*)>(sym("theater_glue_bind"))(&kRtApi);
    so->instance_size = reinterpret_cast<size_t (*)()>(sym("theater_instance_size"));
    so->instantiate = reinterpret_cast<void (*)(void*, void*)>(sym("theater_instantiate"));
    so->free_instance = reinterpret_cast<void (*)(void*)>(sym("theater_free_instance"));
    so->fuel = reinterpret_cast<uint32_t* (*)(void*)>(sym("theater_fuel"));
    if (info.exports_memory) {
      so->memory = reinterpret_cast<wasm_rt_memory_t* (*)(void*)>(sym("theater_memory"));
    }
    auto* exports = static_cast<const theater_export*>(sym("theater_exports"));
    for (; exports->name; ++exports) so->exports.emplace(exports->name, exports->fn);
    // The function-type registry of the module is unlocked: initialise once, under our lock.
    reinterpret_cast<void (*)()>(sym("theater_init_module"))();
    return so;
  }

  EngineConfig config_;
  std::string cc_, wasm2c_, toolchain_id_;
  mutable std::mutex mutex_;
  EngineStats stats_;
  std::map<std::string, std::weak_ptr<SharedObject>> loaded_;
  std::set<std::string> compiling_;          // keys the C compiler is working on
  std::condition_variable compiled_cv_;      // a compile finished
  std::unique_ptr<Engine> interp_;           // serves modules while they compile
  std::deque<CompileJob> jobs_;
  std::condition_variable jobs_cv_;
  std::thread compiler_;
  bool stopping_ = false;
};

}  // namespace

std::unique_ptr<Engine> make_aot_engine(const EngineConfig& config, std::string* why) {
  std::string cc = config.c_compiler;
  if (cc.empty()) cc = std::getenv("CC") ? std::getenv("CC") : "cc";
  auto cc_path = find_program(cc);
  auto wasm2c = find_program("wasm2c");
  if (cc_path.empty() || wasm2c.empty()) {
    if (why) *why = cc_path.empty() ? "no C compiler '" + cc + "' in PATH" : "no wasm2c in PATH";
    return nullptr;
  }
  return std::make_unique<AotEngine>(config, cc_path, wasm2c);
}

void* aot_save_thread_state() { return innermost(); }
void aot_restore_thread_state(void* state) { set_innermost(static_cast<CallFrame*>(state)); }

}  // namespace theater::engine
