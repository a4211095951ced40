// wabt's interpreter behind the narrow API of interp_backend.hpp. Compiled as C++17 (wabt's
// interp headers do not compile as C++20); keep C++20 out of this file.
//
// wabt 1.0.32 facts this file relies on (see src/interp/interp.cc of that release):
//  - A wabt::interp::Store owns every object (functions, memories, globals, traps); RefPtr handles
//    root objects in it, so every RefPtr must die before its Store (State's member order).
//  - A Thread holds the value and call stacks of one call. After a trap its stacks are left as they
//    were, so a Thread is never reused: call() makes a new one each time. This also keeps nested
//    calls (a host function calling back into the instance) independent of the outer call.
//  - The call stack of a Thread holds 64 KiB / sizeof(Frame) frames (about 1,600); deeper
//    recursion traps with "call stack exhausted" instead of overflowing the native stack. (Except
//    through call_indirect, which swallows that trap: interp_engine.cpp guards against it.)
//    Since every call() has a Thread of its own, host -> wasm -> host -> ... nesting is limited
//    separately (kMaxNesting), or it would only end when the native stack does.
#include "engine/interp/interp_backend.hpp"

#include <wabt/binary-reader.h>
#include <wabt/cast.h>
#include <wabt/common.h>
#include <wabt/feature.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>

#include <cstring>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace theater::engine::interp {

namespace wi = wabt::interp;

struct ParsedModule {
  wi::ModuleDesc desc;
};

std::shared_ptr<const ParsedModule> parse_module(const uint8_t* wasm, size_t size,
                                                 std::string* error) {
  auto parsed = std::make_shared<ParsedModule>();
  wabt::Errors errors;
  // wabt's default features: a superset of what the engine accepts (inspect() has already refused
  // the rest), so anything that passed validation reads here too.
  wabt::Features features;
  wabt::ReadBinaryOptions options(features, /*log_stream=*/nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/false);
  if (wabt::Failed(wi::ReadBinaryInterp("module", wasm, size, options, &errors, &parsed->desc))) {
    if (error) *error = errors.empty() ? "the interpreter cannot read the module" : errors.front().message;
    return nullptr;
  }
  // A memory without a declared maximum can grow to the 32-bit limit of 65536 pages; the reader
  // leaves max at 0 in that case, and Memory::Grow checks against max.
  for (auto& memory : parsed->desc.memories) {
    auto& limits = memory.type.limits;
    if (!limits.has_max) limits.max = limits.is_64 ? WABT_MAX_PAGES64 : WABT_MAX_PAGES32;
  }
  return parsed;
}

namespace {

// The message of the trap that a failing host handler raises; call() reports it as TrapCode::Host.
constexpr const char* kHostTrap = "host function failed the call";

// How deep call() may nest through host functions (the ABI needs 2 or 3: a handler, a host
// function, theater_alloc). Each level costs a Thread (128 KiB of stacks) and some native stack.
constexpr int kMaxNesting = 64;

uint64_t to_slot(const wi::Value& v, wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return v.Get<wi::u32>();
    case wabt::Type::I64: return v.Get<wi::u64>();
    case wabt::Type::F32: {
      const wi::f32 f = v.Get<wi::f32>();
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      return bits;
    }
    case wabt::Type::F64: {
      const wi::f64 d = v.Get<wi::f64>();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      return bits;
    }
    default: return 0;  // reference types never cross the host boundary (inspect refuses them)
  }
}

wi::Value from_slot(uint64_t slot, wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return wi::Value::Make(static_cast<wi::u32>(slot));
    case wabt::Type::I64: return wi::Value::Make(static_cast<wi::u64>(slot));
    case wabt::Type::F32: {
      const auto bits = static_cast<uint32_t>(slot);
      wi::f32 f;
      std::memcpy(&f, &bits, sizeof f);
      return wi::Value::Make(f);
    }
    case wabt::Type::F64: {
      wi::f64 d;
      std::memcpy(&d, &slot, sizeof d);
      return wi::Value::Make(d);
    }
    default: return wi::Value::Make(static_cast<wi::u32>(0));
  }
}

// wabt reports traps as text only; these are the messages of wabt 1.0.32's interpreter.
TrapCode classify(const std::string& m) {
  auto starts = [&](const char* prefix) { return m.rfind(prefix, 0) == 0; };
  if (m == kHostTrap) return TrapCode::Host;
  if (starts("unreachable executed")) return TrapCode::Unreachable;
  // Memory and table accesses, including memory.init/copy/fill and table.* out of range.
  if (starts("out of bounds")) return TrapCode::OutOfBounds;
  if (starts("integer divide by zero")) return TrapCode::DivideByZero;
  if (starts("integer overflow")) return TrapCode::IntegerOverflow;
  if (starts("invalid conversion to integer")) return TrapCode::InvalidConversion;
  // call_indirect: index past the table, null entry, or wrong type (one trap kind in wasm2c too).
  if (starts("undefined table index") || starts("uninitialized table element") ||
      starts("indirect call signature mismatch")) {
    return TrapCode::IndirectCallMismatch;
  }
  if (starts("call stack exhausted")) return TrapCode::StackExhausted;
  return TrapCode::Other;
}

CallOutcome outcome_of(const wi::Trap::Ptr& trap) {
  std::string message = trap ? trap->message() : std::string("trap");
  const TrapCode code = classify(message);
  return {code, std::move(message)};
}

}  // namespace

struct InterpInstance::State {
  // The store first: it is destroyed last, after every RefPtr below.
  wi::Store store;
  std::shared_ptr<const ParsedModule> parsed;
  HostHandler handler;
  wi::Module::Ptr module;
  wi::RefVec imports;
  wi::Instance::Ptr instance;
  int nesting = 0;  // call()s running on this instance, nested through host functions

  // Exports, found once the instance exists (see bind()).
  bool bound = false;
  wi::Memory::Ptr memory;
  std::map<std::string, wi::Func::Ptr, std::less<>> funcs;
  std::map<std::string, wi::Global::Ptr, std::less<>> globals;

  // Looks up the exports of `inst` (and its memory). Runs after instantiation, or earlier, from
  // the first host call of the start function: host functions may use memory and set fuel then.
  void bind(wi::Instance& inst) {
    if (bound) return;
    bound = true;
    const auto& types = module->export_types();
    const auto& refs = inst.exports();
    for (size_t i = 0; i < types.size() && i < refs.size(); ++i) {
      switch (types[i].type->kind) {
        case wi::ExternKind::Func: funcs[types[i].name] = store.UnsafeGet<wi::Func>(refs[i]); break;
        case wi::ExternKind::Global:
          globals[types[i].name] = store.UnsafeGet<wi::Global>(refs[i]);
          break;
        case wi::ExternKind::Memory:
          if (types[i].name == "memory") memory = store.UnsafeGet<wi::Memory>(refs[i]);
          break;
        default: break;
      }
    }
    // The linear memory even if it is not exported as "memory" (the ABI requires that export,
    // but memory.grow, routed to the host, must work on any module).
    if (!memory && !inst.memories().empty()) memory = store.UnsafeGet<wi::Memory>(inst.memories()[0]);
  }

  // The host side of import `index`: converts the arguments, runs the handler and turns a refusal
  // into a trap that unwinds the wasm call.
  wabt::Result host_call(size_t index, const wi::FuncType& type, wi::Thread& thread,
                         const wi::Values& params, wi::Values& results, wi::Trap::Ptr* out_trap) {
    if (!bound) {
      if (wi::Instance* caller = thread.GetCallerInstance()) bind(*caller);
    }
    uint64_t small[8];
    std::vector<uint64_t> large;
    uint64_t* args = small;
    if (params.size() > 8) {
      large.resize(params.size());
      args = large.data();
    }
    for (size_t i = 0; i < params.size(); ++i) args[i] = to_slot(params[i], type.params[i]);
    uint64_t result = 0;
    if (!handler(index, args, &result)) {
      *out_trap = wi::Trap::New(thread.store(), kHostTrap);
      return wabt::Result::Error;
    }
    if (!type.results.empty()) results[0] = from_slot(result, type.results[0]);
    return wabt::Result::Ok;
  }
};

InterpInstance::InterpInstance(std::shared_ptr<const ParsedModule> module, HostHandler handler)
    : s_(std::make_unique<State>()) {
  s_->parsed = std::move(module);
  s_->handler = std::move(handler);
  // Module::New takes its description by value: each instance has its own copy in its own store.
  s_->module = wi::Module::New(s_->store, s_->parsed->desc);
  const auto& imports = s_->module->desc().imports;
  for (size_t index = 0; index < imports.size(); ++index) {
    const auto* type = wabt::dyn_cast<wi::FuncType>(imports[index].type.type.get());
    if (!type) {
      s_->imports.push_back(wi::Ref::Null);  // instantiate() reports it
      continue;
    }
    State* state = s_.get();
    // The HostFunc keeps its own copy of the type; the callback keeps one too.
    auto host = wi::HostFunc::New(
        s_->store, *type,
        [state, index, type = *type](wi::Thread& thread, const wi::Values& params,
                                     wi::Values& results, wi::Trap::Ptr* out_trap) {
          return state->host_call(index, type, thread, params, results, out_trap);
        });
    s_->imports.push_back(host.ref());
  }
}

InterpInstance::~InterpInstance() = default;

CallOutcome InterpInstance::instantiate() {
  const auto& imports = s_->module->desc().imports;
  for (size_t i = 0; i < imports.size(); ++i) {
    if (s_->imports[i] == wi::Ref::Null) {
      return {TrapCode::Other, "import " + imports[i].type.module + "." + imports[i].type.name +
                                   " is not a function; only function imports are supported"};
    }
  }
  wi::Trap::Ptr trap;
  // HostFunc objects stay alive through s_->imports: the instance holds their refs, and the store
  // only frees objects when Collect() is called, which this backend never does.
  wi::Instance::Ptr instance = wi::Instance::Instantiate(s_->store, s_->module.ref(), s_->imports, &trap);
  if (!instance) return outcome_of(trap);
  s_->instance = std::move(instance);
  s_->bind(*s_->instance);
  return {};
}

bool InterpInstance::has_function(std::string_view name) const {
  return s_->funcs.find(name) != s_->funcs.end();
}

CallOutcome InterpInstance::call(std::string_view name, const uint64_t* args, size_t nargs,
                                 uint64_t* results, size_t nresults) {
  auto it = s_->funcs.find(name);
  if (it == s_->funcs.end()) {
    return {TrapCode::Other, "no exported function '" + std::string(name) + "'"};
  }
  // A copy: the handle must stay valid through nested calls, whatever they do.
  wi::Func::Ptr func = it->second;
  const wi::FuncType& type = func->type();
  if (type.params.size() != nargs || type.results.size() > nresults) {
    return {TrapCode::Other, "wrong number of arguments or results for '" + std::string(name) + "'"};
  }
  if (s_->nesting >= kMaxNesting) {
    return {TrapCode::StackExhausted, "call stack exhausted: host and wasm calls nested " +
                                          std::to_string(kMaxNesting) + " deep"};
  }
  wi::Values params(nargs);
  for (size_t i = 0; i < nargs; ++i) params[i] = from_slot(args[i], type.params[i]);
  wi::Values out;
  wi::Trap::Ptr trap;
  wi::Thread thread(s_->store);  // fresh per call: see the notes at the top of this file
  struct Nesting {
    int& n;
    explicit Nesting(int& count) : n(count) { ++n; }
    ~Nesting() { --n; }  // also when an exception (e.g. a fiber's forced unwind) passes through
  } nesting(s_->nesting);
  const wabt::Result result = func->Call(thread, params, out, &trap);
  if (wabt::Failed(result)) return outcome_of(trap);
  // Defensive: a trap that was recorded but not reported is still a trap.
  if (trap) return outcome_of(trap);
  for (size_t i = 0; i < out.size() && i < nresults; ++i) results[i] = to_slot(out[i], type.results[i]);
  return {};
}

uint8_t* InterpInstance::memory_data() { return s_->memory ? s_->memory->UnsafeData() : nullptr; }

size_t InterpInstance::memory_size() const {
  return s_->memory ? static_cast<size_t>(s_->memory->ByteSize()) : 0;
}

bool InterpInstance::grow_memory(uint32_t delta_pages, uint32_t* old_pages) {
  if (!s_->memory) return false;
  const auto old = static_cast<uint32_t>(s_->memory->PageSize());
  try {
    // Checks the declared maximum (or 65536 pages); the data lives in a std::vector.
    if (wabt::Failed(s_->memory->Grow(delta_pages))) return false;
  } catch (const std::bad_alloc&) {
    return false;
  }
  if (old_pages) *old_pages = old;
  return true;
}

bool InterpInstance::set_global_i32(std::string_view export_name, int32_t value) {
  auto it = s_->globals.find(export_name);
  if (it == s_->globals.end()) return false;
  const wi::GlobalType& type = it->second->type();
  if (type.type != wabt::Type::I32 || type.mut != wi::Mutability::Var) return false;
  it->second->UnsafeSet(wi::Value::Make(static_cast<wi::u32>(value)));
  return true;
}

}  // namespace theater::engine::interp
