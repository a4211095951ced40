// Validation and description of modules (wabt), plus the small out-of-line parts of engine.hpp.
#include <fmt/format.h>

#include <cstring>

#include <wabt/cast.h>

#include "base/sha256.hpp"
#include "engine/engine.hpp"
#include "engine/wabt_util.hpp"

namespace theater::engine {

namespace {

struct FeatureName {
  void (wabt::Features::*enable)();
  const char* name;
};

// Features wabt can read but this engine refuses, with the names users know them by.
constexpr FeatureName kUnsupported[] = {
    {&wabt::Features::enable_simd, "SIMD"},
    {&wabt::Features::enable_threads, "threads (shared memory and atomics)"},
    {&wabt::Features::enable_exceptions, "exception handling"},
    {&wabt::Features::enable_tail_call, "tail calls"},
    {&wabt::Features::enable_memory64, "64-bit memory"},
    {&wabt::Features::enable_multi_memory, "multiple memories"},
    {&wabt::Features::enable_gc, "garbage collection"},
    {&wabt::Features::enable_function_references, "typed function references"},
    {&wabt::Features::enable_extended_const, "extended constant expressions"},
    {&wabt::Features::enable_relaxed_simd, "relaxed SIMD"},
};

bool parses(std::span<const uint8_t> wasm, const wabt::Features& features, wabt::Errors* errors,
            wabt::Module* out) {
  wabt::ReadBinaryOptions options(features, nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/false);
  wabt::Module scratch;
  wabt::Module* target = out ? out : &scratch;
  if (wabt::Failed(wabt::ReadBinaryIr("module", wasm.data(), wasm.size(), options, errors, target))) {
    return false;
  }
  wabt::ValidateOptions vopts(features);
  return wabt::Succeeded(wabt::ValidateModule(target, errors, vopts));
}

std::string first_error(const wabt::Errors& errors) {
  if (errors.empty()) return "invalid module";
  std::string text = errors.front().message;
  if (text.find("bad magic") != std::string::npos) return "not a WebAssembly module (bad magic number)";
  if (text.find("extends past end") != std::string::npos || text.find("unable to read") != std::string::npos) {
    return "truncated module (" + text + ")";
  }
  return fmt::format("{} (at byte {:#x})", text, errors.front().loc.offset);
}

ValType val_type(wabt::Type t, std::string_view label) {
  switch (t) {
    case wabt::Type::I32: return ValType::I32;
    case wabt::Type::I64: return ValType::I64;
    case wabt::Type::F32: return ValType::F32;
    case wabt::Type::F64: return ValType::F64;
    default:
      throw LoadError(fmt::format("{}: a function signature uses type {}, which actors cannot use", label,
                                  t.GetName()));
  }
}

FuncSig func_sig(const wabt::FuncSignature& s, std::string_view label) {
  FuncSig sig;
  for (auto t : s.param_types) sig.params.push_back(val_type(t, label));
  for (auto t : s.result_types) sig.results.push_back(val_type(t, label));
  return sig;
}

const char* kind_name(wabt::ExternalKind k) {
  switch (k) {
    case wabt::ExternalKind::Func: return "function";
    case wabt::ExternalKind::Table: return "table";
    case wabt::ExternalKind::Memory: return "memory";
    case wabt::ExternalKind::Global: return "global";
    case wabt::ExternalKind::Tag: return "tag";
  }
  return "?";
}

}  // namespace

wabt::Features supported_features() {
  wabt::Features f;  // wabt's defaults, minus what wasm2c 1.0.32 cannot compile
  f.disable_simd();
  f.disable_threads();
  f.disable_exceptions();
  f.disable_tail_call();
  f.disable_memory64();
  f.disable_multi_memory();
  f.disable_gc();
  f.disable_function_references();
  f.disable_extended_const();
  f.disable_relaxed_simd();
  f.enable_mutable_globals();
  f.enable_sat_float_to_int();
  f.enable_sign_extension();
  f.enable_multi_value();
  f.enable_bulk_memory();
  f.enable_reference_types();
  return f;
}

void read_module(std::span<const uint8_t> wasm, std::string_view label, wabt::Module* out) {
  if (wasm.size() < 8 || std::memcmp(wasm.data(), "\0asm", 4) != 0) {
    throw LoadError(fmt::format("{}: not a WebAssembly module (bad magic number)", label));
  }
  wabt::Errors errors;
  if (parses(wasm, supported_features(), &errors, out)) return;
  // Name the feature if enabling exactly one unsupported feature makes the module valid.
  for (const auto& f : kUnsupported) {
    wabt::Features with = supported_features();
    (with.*f.enable)();
    wabt::Errors ignored;
    if (parses(wasm, with, &ignored, nullptr)) {
      throw LoadError(fmt::format("{}: uses {}, which this engine does not support", label, f.name));
    }
  }
  throw LoadError(fmt::format("{}: {}", label, first_error(errors)));
}

ModuleInfo inspect(std::span<const uint8_t> wasm, std::string_view label) {
  wabt::Module m;
  read_module(wasm, label, &m);
  ModuleInfo info;
  info.sha256 = sha256_hex(wasm);
  for (const wabt::Import* imp : m.imports) {
    if (auto* fi = wabt::dyn_cast<wabt::FuncImport>(imp)) {
      info.imports.push_back({imp->module_name, imp->field_name, func_sig(fi->func.decl.sig, label)});
    } else {
      info.other_imports.push_back(
          fmt::format("{}.{} ({})", imp->module_name, imp->field_name, kind_name(imp->kind())));
    }
  }
  for (const wabt::Export* ex : m.exports) {
    if (ex->kind == wabt::ExternalKind::Func) {
      const wabt::Func* f = m.GetFunc(ex->var);
      info.functions.push_back({ex->name, func_sig(f->decl.sig, label)});
    } else {
      info.other_exports.push_back(ex->name);
      if (ex->kind == wabt::ExternalKind::Memory && ex->name == "memory") info.exports_memory = true;
    }
  }
  if (!m.memories.empty()) {
    const auto& limits = m.memories.front()->page_limits;
    info.memory_initial_pages = static_cast<uint32_t>(limits.initial);
    info.memory_max_pages = limits.has_max ? static_cast<uint32_t>(limits.max) : UINT32_MAX;
  }
  return info;
}

// ---- small parts of engine.hpp -----------------------------------------------------------------

std::string FuncSig::str() const {
  auto list = [](const std::vector<ValType>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
      static constexpr const char* kNames[] = {"i32", "i64", "f32", "f64"};
      s += (i ? ", " : "") + std::string(kNames[static_cast<int>(v[i])]);
    }
    return s;
  };
  return fmt::format("({}) -> {}", list(params),
                     results.size() == 1 ? list(results) : "(" + list(results) + ")");
}

const FuncExport* ModuleInfo::find_function(std::string_view name) const {
  for (const auto& f : functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const char* to_string(TrapKind k) {
  switch (k) {
    case TrapKind::None: return "none";
    case TrapKind::Unreachable: return "unreachable";
    case TrapKind::OutOfBounds: return "out-of-bounds";
    case TrapKind::DivideByZero: return "divide-by-zero";
    case TrapKind::IntegerOverflow: return "integer-overflow";
    case TrapKind::InvalidConversion: return "invalid-conversion";
    case TrapKind::IndirectCallMismatch: return "indirect-call-mismatch";
    case TrapKind::StackExhausted: return "stack-exhausted";
    case TrapKind::Timeout: return "timeout";
    case TrapKind::MemoryLimit: return "memory-limit";
    case TrapKind::Host: return "host";
    case TrapKind::Exit: return "exit";
  }
  return "?";
}

const char* to_string(Tier t) { return t == Tier::Aot ? "aot" : "interp"; }

void Linker::define(std::string module, std::string name, FuncSig sig, HostFunction fn) {
  imports_.push_back({std::move(module), std::move(name), std::move(sig), fn});
}

const HostImport* Linker::find(std::string_view module, std::string_view name) const {
  for (const auto& i : imports_) {
    if (i.module == module && i.name == name) return &i;
  }
  return nullptr;
}

bool Instance::in_bounds(uint32_t ptr, uint32_t len) {
  const auto mem = memory();
  return static_cast<uint64_t>(ptr) + len <= mem.size();
}

std::optional<std::string> Instance::read_bytes(uint32_t ptr, uint32_t len) {
  if (!in_bounds(ptr, len)) return std::nullopt;
  const auto mem = memory();
  return std::string(reinterpret_cast<const char*>(mem.data()) + ptr, len);
}

bool Instance::write_bytes(uint32_t ptr, std::span<const uint8_t> bytes) {
  if (bytes.size() > UINT32_MAX || !in_bounds(ptr, static_cast<uint32_t>(bytes.size()))) return false;
  if (!bytes.empty()) std::memcpy(memory().data() + ptr, bytes.data(), bytes.size());
  return true;
}

bool Instance::write_u32(uint32_t ptr, uint32_t value) {
  return write_bytes(ptr, {reinterpret_cast<const uint8_t*>(&value), 4});
}

}  // namespace theater::engine
