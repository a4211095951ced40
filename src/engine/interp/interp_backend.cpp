// wabt's interpreter, wrapped (C++17: see interp_backend.hpp).
#include "engine/interp/interp_backend.hpp"

#include <wabt/binary-reader.h>
#include <wabt/error-formatter.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>

#include <stdexcept>
#include <unordered_map>

namespace theater::engine::interp {

namespace wi = wabt::interp;

struct ParsedModule {
  wi::ModuleDesc desc;
};

std::shared_ptr<const ParsedModule> parse_module(const uint8_t* wasm, size_t size, std::string* error) {
  auto parsed = std::make_shared<ParsedModule>();
  wabt::Errors errors;
  wabt::Features features;
  wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
  if (wabt::Failed(wi::ReadBinaryInterp("module", wasm, size, options, &errors, &parsed->desc))) {
    if (error) *error = errors.empty() ? "cannot read module" : errors.front().message;
    return nullptr;
  }
  return parsed;
}

namespace {

uint64_t to_slot(const wi::Value& v, wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return v.Get<wi::u32>();
    case wabt::Type::I64: return v.Get<wi::u64>();
    case wabt::Type::F32: {
      float f = v.Get<wi::f32>();
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      return bits;
    }
    case wabt::Type::F64: {
      double d = v.Get<wi::f64>();
      uint64_t bits;
      std::memcpy(&bits, &d, 8);
      return bits;
    }
    default: return 0;
  }
}

wi::Value from_slot(uint64_t s, wabt::Type t) {
  switch (t) {
    case wabt::Type::I32: return wi::Value::Make(static_cast<wi::u32>(s));
    case wabt::Type::I64: return wi::Value::Make(static_cast<wi::u64>(s));
    case wabt::Type::F32: {
      uint32_t bits = static_cast<uint32_t>(s);
      float f;
      std::memcpy(&f, &bits, 4);
      return wi::Value::Make(f);
    }
    case wabt::Type::F64: {
      double d;
      std::memcpy(&d, &s, 8);
      return wi::Value::Make(d);
    }
    default: return wi::Value::Make(static_cast<wi::u32>(0));
  }
}

constexpr const char* kHostTrap = "theater: host function raised";

TrapCode classify(const std::string& m) {
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (m == kHostTrap) return TrapCode::Host;
  if (has("unreachable")) return TrapCode::Unreachable;
  if (has("out of bounds") || has("out-of-bounds")) return TrapCode::OutOfBounds;
  if (has("divide by zero")) return TrapCode::DivideByZero;
  if (has("integer overflow")) return TrapCode::IntegerOverflow;
  if (has("invalid conversion")) return TrapCode::InvalidConversion;
  if (has("indirect call") || has("uninitialized table element") || has("null")) {
    return TrapCode::IndirectCallMismatch;
  }
  if (has("call stack exhausted") || has("stack exhausted")) return TrapCode::StackExhausted;
  return TrapCode::Other;
}

}  // namespace

struct InterpInstance::State {
  wi::Store store;
  wi::Instance::Ptr instance;
  wi::Memory::Ptr memory;
  std::unordered_map<std::string, wi::Func::Ptr> funcs;
  std::unordered_map<std::string, wi::Global::Ptr> globals;
  std::vector<HostCallback> imports;
};

InterpInstance::InterpInstance(std::shared_ptr<const ParsedModule> module,
                               std::vector<HostCallback> imports)
    : s_(std::make_unique<State>()) {
  s_->imports = std::move(imports);
  auto mod = wi::Module::New(s_->store, module->desc);
  wi::RefVec externs;
  size_t slot = 0;
  for (const auto& import : mod->desc().imports) {
    if (import.type.type->kind != wi::ExternKind::Func) {
      throw std::runtime_error("only function imports are supported");
    }
    const auto& ft = *wabt::cast<wi::FuncType>(import.type.type.get());
    State* state = s_.get();
    const size_t index = slot++;
    auto host = wi::HostFunc::New(
        s_->store, ft,
        [state, index, ft](wi::Thread& thread, const wi::Values& params, wi::Values& results,
                           wi::Trap::Ptr* out_trap) -> wabt::Result {
          uint64_t args[16] = {};
          for (size_t i = 0; i < params.size() && i < 16; ++i) args[i] = to_slot(params[i], ft.params[i]);
          bool raise = false;
          uint64_t r = state->imports[index](args, &raise);
          if (raise) {
            *out_trap = wi::Trap::New(thread.store(), kHostTrap);
            return wabt::Result::Error;
          }
          if (!ft.results.empty()) results[0] = from_slot(r, ft.results[0]);
          return wabt::Result::Ok;
        });
    externs.push_back(host.ref());
  }
  wi::Trap::Ptr trap;
  s_->instance = wi::Instance::Instantiate(s_->store, mod.ref(), externs, &trap);
  if (!s_->instance) {
    throw std::runtime_error(trap ? trap->message() : "instantiation failed");
  }
  const auto& exports = mod->export_types();
  for (size_t i = 0; i < exports.size(); ++i) {
    wi::Ref ref = s_->instance->exports()[i];
    switch (exports[i].type->kind) {
      case wi::ExternKind::Func: s_->funcs[exports[i].name] = s_->store.UnsafeGet<wi::Func>(ref); break;
      case wi::ExternKind::Memory:
        if (exports[i].name == "memory") s_->memory = s_->store.UnsafeGet<wi::Memory>(ref);
        break;
      case wi::ExternKind::Global: s_->globals[exports[i].name] = s_->store.UnsafeGet<wi::Global>(ref); break;
      default: break;
    }
  }
}

InterpInstance::~InterpInstance() = default;

bool InterpInstance::has_function(const std::string& name) const { return s_->funcs.count(name) != 0; }

CallOutcome InterpInstance::call(const std::string& name, const uint64_t* args, size_t nargs,
                                 uint64_t* results, size_t nresults) {
  auto it = s_->funcs.find(name);
  if (it == s_->funcs.end()) return {TrapCode::Other, "no exported function '" + name + "'"};
  const auto& type = it->second->type();
  if (type.params.size() != nargs || type.results.size() > nresults) {
    return {TrapCode::Other, "wrong number of arguments or results for '" + name + "'"};
  }
  wi::Values params, out;
  for (size_t i = 0; i < nargs; ++i) params.push_back(from_slot(args[i], type.params[i]));
  wi::Trap::Ptr trap;
  // A fresh Thread per call: calls nest (a host function calling theater_alloc), and a Thread is
  // not to be reused after a trap.
  wi::Thread thread(s_->store);
  if (wabt::Failed(it->second->Call(thread, params, out, &trap))) {
    std::string message = trap ? trap->message() : "trap";
    return {classify(message), message};
  }
  for (size_t i = 0; i < out.size() && i < nresults; ++i) results[i] = to_slot(out[i], type.results[i]);
  return {};
}

uint8_t* InterpInstance::memory_data() { return s_->memory ? s_->memory->UnsafeData() : nullptr; }

size_t InterpInstance::memory_size() const { return s_->memory ? s_->memory->ByteSize() : 0; }

bool InterpInstance::grow_memory(uint32_t delta, uint32_t* old_pages) {
  if (!s_->memory) return false;
  *old_pages = static_cast<uint32_t>(s_->memory->ByteSize() / 65536);
  return wabt::Succeeded(s_->memory->Grow(delta));
}

void InterpInstance::set_global_i32(const std::string& export_name, int32_t value) {
  auto it = s_->globals.find(export_name);
  if (it != s_->globals.end()) it->second->UnsafeSet(wi::Value::Make(static_cast<wi::u32>(value)));
}

}  // namespace theater::engine::interp
