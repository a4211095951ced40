#pragma once
// The engine turns wasm bytes into Modules and Modules into Instances.
// Two tiers implement it: AOT (wasm2c -> C compiler -> dlopen) and the wabt interpreter.
// Both see the same instrumented module (fuel checks, memory.grow routed to the host; see
// instrument.hpp), so deadlines, preemption and memory limits behave the same on both.
//
// Promises:
//  - Engine::load never crashes on bad bytes: it throws LoadError with a message that names the
//    problem (not wasm, truncated, unsupported feature, unknown import ...).
//  - Instance::call never lets a trap escape: it returns a Trap value. The instance must then be
//    discarded (its memory and shadow stack may be corrupt), but the calling thread is fine.
//  - A Module is shareable across threads; an Instance runs on one thread at a time.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/interrupt.hpp"

namespace theater::engine {

enum class ValType : uint8_t { I32, I64, F32, F64 };

struct FuncSig {
  std::vector<ValType> params;
  std::vector<ValType> results;
  bool operator==(const FuncSig&) const = default;
  std::string str() const;  // "(i32, i32) -> i32"
};

struct FuncImport {
  std::string module;
  std::string name;
  FuncSig sig;
};

struct FuncExport {
  std::string name;
  FuncSig sig;
};

// What a module declares; read without instantiating (see inspect()).
struct ModuleInfo {
  std::vector<FuncImport> imports;          // function imports, in import order
  std::vector<std::string> other_imports;   // "module.name (memory|table|global)": the ABI allows none
  std::vector<FuncExport> functions;        // exported functions
  std::vector<std::string> other_exports;   // exported memories, globals, tables
  bool exports_memory = false;              // an export named "memory" that is a memory
  uint32_t memory_initial_pages = 0;
  uint32_t memory_max_pages = UINT32_MAX;   // UINT32_MAX: no declared maximum
  std::string sha256;                       // hex digest of the original bytes

  const FuncExport* find_function(std::string_view name) const;
};

struct LoadError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class TrapKind : uint8_t {
  None,
  Unreachable,
  OutOfBounds,
  DivideByZero,
  IntegerOverflow,
  InvalidConversion,
  IndirectCallMismatch,
  StackExhausted,
  Timeout,      // raised by the host at a fuel check after the deadline
  MemoryLimit,  // memory.grow past the instance's limit
  Host,         // a host function failed the call (e.g. theater_alloc trapped inside it)
  Exit,         // not a failure: the actor ended the call itself (WASI proc_exit)
};
const char* to_string(TrapKind);

struct Trap {
  TrapKind kind = TrapKind::None;
  std::string message;
};

class Instance;

// A host function: receives the instance it was called from and the raw arguments (i32 values
// zero-extended into u64, f32/f64 as bit patterns). Returns the single result, if any.
// To fail the wasm call it runs in, call instance.raise(...) and return anything.
using HostFunction = uint64_t (*)(Instance& instance, const uint64_t* args);

struct HostImport {
  std::string module;
  std::string name;
  FuncSig sig;
  HostFunction fn = nullptr;
};

// The host functions that modules may import, by (module, name): the ABI's surface.
class Linker {
 public:
  void define(std::string module, std::string name, FuncSig sig, HostFunction fn);
  const HostImport* find(std::string_view module, std::string_view name) const;
  const std::vector<HostImport>& all() const { return imports_; }

 private:
  std::vector<HostImport> imports_;
};

struct InstanceLimits {
  uint32_t max_memory_pages = 256;  // 16 MiB; memory.grow past it traps with MemoryLimit
};

// An exported function looked up once (Instance::find_function): calls through it skip the lookup
// by name, which a runtime that calls a handler per message would otherwise pay every time.
// Valid for the instance that made it; `name` must outlive it (callers pass literals).
struct ExportFn {
  const void* handle = nullptr;  // the tier's own entry; null: no such export
  std::string_view name;
  explicit operator bool() const { return handle != nullptr; }
};

class Instance {
 public:
  virtual ~Instance() = default;

  virtual bool has_function(std::string_view name) const = 0;
  // Calls an exported function. Returns nullopt on success (results filled), or the trap.
  // Re-entrant: a host function may call back into the instance (e.g. theater_alloc).
  virtual std::optional<Trap> call(std::string_view name, std::span<const uint64_t> args,
                                   std::span<uint64_t> results) = 0;
  // The same through a looked-up export; a tier without handles of its own calls by name.
  virtual ExportFn find_function(std::string_view name) const {
    return has_function(name) ? ExportFn{this, name} : ExportFn{nullptr, name};
  }
  virtual std::optional<Trap> call(const ExportFn& fn, std::span<const uint64_t> args,
                                   std::span<uint64_t> results) {
    return call(fn.name, args, results);
  }
  // The current linear memory. Fetch it again after any call into wasm: it may have grown.
  virtual std::span<uint8_t> memory() = 0;
  // Grows memory by delta pages; returns the old page count, or nullopt past the module's declared
  // maximum or when the host has no memory for it. Limits are checked by the caller
  // (builtin_memory_grow in resolve.hpp).
  virtual std::optional<uint32_t> grow_memory(uint32_t delta_pages) = 0;
  // The module's own declared maximum (UINT32_MAX if none).
  virtual uint32_t declared_max_pages() const = 0;
  // Sets the fuel counter that the instrumented code decrements on the back edges of loops in
  // functions without calls, and reads before calls and on other loops' back edges; below
  // zero it calls theater.__fuel_exhausted, whose result is the new fuel (instrument.hpp).
  virtual void set_fuel(int32_t units) = 0;
  // Sets the fuel below zero, so that the running code calls theater.__fuel_exhausted at its next
  // check, wherever it is: code that only calls and reads the fuel spends none by itself. Safe
  // from any thread while the instance lives (a concurrent set_fuel may win; call it again).
  // From a thread that does not know whether it lives: through an InterruptSlot.
  virtual void interrupt() = 0;

  // Fails the wasm call that is running once the current host function returns.
  void raise(Trap trap) { pending_ = std::move(trap); }
  std::optional<Trap>& pending_trap() { return pending_; }

  // Bounds-checked access to linear memory for host functions. bytes_at: [ptr, ptr+len) in
  // place, valid until the actor's code runs again (its memory may grow and move), or an empty
  // optional when outside memory.
  std::optional<std::span<uint8_t>> bytes_at(uint32_t ptr, uint32_t len) {
    const auto mem = memory();  // (one virtual call for the check and the address)
    // In 64 bits: ptr + len must not wrap around to a small, seemingly valid end.
    if (static_cast<uint64_t>(ptr) + len > mem.size()) return std::nullopt;
    return mem.subspan(ptr, len);
  }
  bool in_bounds(uint32_t ptr, uint32_t len) { return bytes_at(ptr, len).has_value(); }
  std::optional<std::string> read_bytes(uint32_t ptr, uint32_t len);
  bool write_bytes(uint32_t ptr, std::span<const uint8_t> bytes);
  bool write_u32(uint32_t ptr, uint32_t value);

  void* user = nullptr;  // the runtime's per-actor data, for host functions
  InstanceLimits limits;

 protected:
  // Every tier's destructor calls this first, while interrupt() still works on it.
  void leave_interrupt_slot();

  std::optional<Trap> pending_;

 private:
  friend class InterruptSlot;
  InterruptSlot* slot_ = nullptr;  // the last one it was published in [the thread running it]
};

inline void InterruptSlot::publish(Instance* instance) {
  if (instance->slot_ != this) move_here(instance);
  instance_.store(instance, std::memory_order_release);
}

enum class Tier { Aot, Interp };
const char* to_string(Tier);

struct EngineConfig {
  Tier tier = Tier::Aot;
  std::filesystem::path cache_dir;       // empty: $THEATER_CACHE, else ~/.cache/theater
  std::string c_compiler;                // empty: $CC, else "cc"
  std::string opt_level = "-O2";
  // false: no fuel checks in the code, so no deadlines and no preemption. Only for measuring
  // what they cost (bench/engine_bench.cpp); never for actors.
  bool fuel_checks = true;
  // AOT only: a module that is not compiled yet is served by the interpreter at once while the
  // C compiler runs on a background thread; instances made after that are native. Nothing waits
  // for a compile (no actor, no worker thread). Off by default so that an AOT engine's modules
  // are AOT from the first instance (tests of that tier rely on it); `theater run` turns it on.
  bool interp_while_compiling = false;
  // AOT only: wasm2c and the C compiler each get this long for a module; past it they are
  // stopped and the load fails with a LoadError that says so (a module can be made to compile
  // for hours: huge functions, thousands of locals). With interp_while_compiling the module
  // stays on the interpreter.
  std::chrono::milliseconds compile_timeout{600'000};
  // Long work (compiling a module) reports here: ("compiling counter.wasm", fraction 0..1).
  std::function<void(std::string_view what, double fraction)> progress;
};

class Module {
 public:
  virtual ~Module() = default;
  const ModuleInfo& info() const { return info_; }
  // A fresh instance with its own memory. Throws LoadError if it cannot be made.
  virtual std::unique_ptr<Instance> instantiate(const InstanceLimits& limits, void* user) = 0;
  virtual Tier tier() const = 0;

 protected:
  ModuleInfo info_;
};

// Counters a test or benchmark can read.
struct EngineStats {
  uint64_t compiles = 0;      // AOT: modules compiled by the C compiler
  uint64_t cache_hits = 0;    // AOT: modules served from the on-disk cache
  uint64_t memory_hits = 0;   // modules served from the in-process map
};

class Engine {
 public:
  virtual ~Engine() = default;
  // AOT unless config says interp or no C compiler is found (then interp, with a note in logs).
  static std::unique_ptr<Engine> create(EngineConfig config = {});

  virtual Tier tier() const = 0;
  // Validates, instruments and compiles or prepares the module. Every import must be defined in
  // linker with the same signature. `label` names the module in errors ("counter.wasm").
  virtual std::shared_ptr<Module> load(std::span<const uint8_t> wasm, const Linker& linker,
                                       std::string_view label) = 0;
  virtual EngineStats stats() const = 0;
};

// Parses and validates a module (without instrumenting or compiling). Throws LoadError.
ModuleInfo inspect(std::span<const uint8_t> wasm, std::string_view label);

// Where instrument() routes fuel exhaustion and memory.grow: host functions every engine defines.
inline constexpr std::string_view kHostModule = "theater";
inline constexpr std::string_view kFuelImport = "__fuel_exhausted";  // (i32 left) -> i32 new fuel
inline constexpr std::string_view kGrowImport = "__memory_grow";     // (i32) -> i32
inline constexpr std::string_view kFuelExport = "__theater_fuel";    // mutable i32 global

}  // namespace theater::engine
