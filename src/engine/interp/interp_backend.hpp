#pragma once
// The only part of Theater that includes wabt's interpreter headers, which compile as C++17 only.
// So this header keeps to C++17 types; interp_engine.cpp adapts it to engine.hpp.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace theater::engine::interp {

// Parsed once per module, shared by its instances.
struct ParsedModule;
std::shared_ptr<const ParsedModule> parse_module(const uint8_t* wasm, size_t size, std::string* error);

// An import's host side: gets raw u64 args, returns the result. Setting *raise makes the wasm call
// fail (the adapter knows why).
using HostCallback = std::function<uint64_t(const uint64_t* args, bool* raise)>;

enum class TrapCode { None, Unreachable, OutOfBounds, DivideByZero, IntegerOverflow,
                      InvalidConversion, IndirectCallMismatch, StackExhausted, Host, Other };

struct CallOutcome {
  TrapCode code = TrapCode::None;
  std::string message;
};

class InterpInstance {
 public:
  // One Store per instance (a Store is not thread-safe). Throws std::runtime_error on failure.
  InterpInstance(std::shared_ptr<const ParsedModule> module, std::vector<HostCallback> imports);
  ~InterpInstance();

  bool has_function(const std::string& name) const;
  CallOutcome call(const std::string& name, const uint64_t* args, size_t nargs, uint64_t* results,
                   size_t nresults);
  uint8_t* memory_data();
  size_t memory_size() const;
  bool grow_memory(uint32_t delta, uint32_t* old_pages);
  void set_global_i32(const std::string& export_name, int32_t value);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace theater::engine::interp
