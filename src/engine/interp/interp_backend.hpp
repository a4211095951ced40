#pragma once
// wabt's interpreter behind a narrow API. wabt's interpreter headers only compile as C++17, so
// interp_backend.cpp is built with -std=c++17 (see CMakeLists.txt) and is the only file that
// includes them; this header keeps to C++17 types so that the C++20 side (interp_engine.cpp) can
// include it. It knows nothing of engine.hpp: traps come back as a code and wabt's message, and
// host functions are one callback per instance that gets the import's index.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace theater::engine::interp {

// A module read by wabt's interpreter reader, shared (read-only) by all its instances and threads.
struct ParsedModule;

// Reads (and validates) a module for the interpreter. Null on failure, with wabt's message in
// *error.
std::shared_ptr<const ParsedModule> parse_module(const uint8_t* wasm, size_t size,
                                                 std::string* error);

enum class TrapCode {
  None,
  Unreachable,
  OutOfBounds,
  DivideByZero,
  IntegerOverflow,
  InvalidConversion,
  IndirectCallMismatch,
  StackExhausted,
  Host,   // the host handler failed the call (the caller knows why)
  Other,  // a trap message this backend does not recognise (see the message)
};

struct CallOutcome {
  TrapCode code = TrapCode::None;
  std::string message;
  bool ok() const { return code == TrapCode::None; }
};

// Called for every call from wasm to an imported function. `import` is the import's index among
// the module's imports (all of which are functions), `args` its arguments as u64 slots (i32 zero-
// extended, floats as bit patterns). Stores the result, if the import has one, in *result.
// Returns false to fail the wasm call that is running (CallOutcome::code is then Host).
using HostHandler = std::function<bool(size_t import, const uint64_t* args, uint64_t* result)>;

// One instance of a parsed module, with its own wabt Store (a Store is not thread-safe, so an
// instance runs on one thread at a time). Not copyable or movable.
class InterpInstance {
 public:
  // Prepares the store, the module and one host function per import; runs nothing yet.
  InterpInstance(std::shared_ptr<const ParsedModule> module, HostHandler handler);
  ~InterpInstance();
  InterpInstance(const InterpInstance&) = delete;
  InterpInstance& operator=(const InterpInstance&) = delete;

  // Builds the instance: segments, then the start function. The host handler may already run
  // (start function, fuel checks), and memory and globals are reachable from it while it does.
  // On failure (a module that imports something other than functions, a segment out of range, a
  // trap in the start function) the outcome says why and the instance must not be used further.
  CallOutcome instantiate();

  bool has_function(std::string_view name) const;
  // Calls an exported function. Re-entrant: the host handler may call() again (each call runs on
  // a wabt Thread of its own, so a trap in a nested call leaves the outer one intact; nesting is
  // limited, past the limit the call fails with StackExhausted).
  // Fails (code Other) without running anything if the function does not exist or the argument or
  // result counts do not fit its type. Results beyond the function's results are left untouched.
  CallOutcome call(std::string_view name, const uint64_t* args, size_t nargs, uint64_t* results,
                   size_t nresults);

  // The instance's linear memory (null/0 if none). The pointer changes when memory grows.
  uint8_t* memory_data();
  size_t memory_size() const;
  // Grows that memory; false past its declared maximum or when the host has no memory for it.
  bool grow_memory(uint32_t delta_pages, uint32_t* old_pages);
  // Sets an exported mutable i32 global; false if there is no such export.
  bool set_global_i32(std::string_view export_name, int32_t value);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace theater::engine::interp
