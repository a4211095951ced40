// Validation and description of modules (wabt), plus the small out-of-line parts of engine.hpp.
#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <cstring>
#include <optional>

#include <wabt/cast.h>

#include "base/sha256.hpp"
#include "engine/engine.hpp"
#include "engine/wabt_util.hpp"

namespace theater::engine {

namespace {

struct FeatureName {
  void (wabt::Features::*set)(bool);
  const char* name;
};

// Features wabt can read but wasm2c 1.0.32 cannot compile, by the names users know them by.
constexpr FeatureName kUnsupported[] = {
    {&wabt::Features::set_simd_enabled, "SIMD (v128)"},
    {&wabt::Features::set_threads_enabled, "threads (shared memory, atomics)"},
    {&wabt::Features::set_exceptions_enabled, "exception handling"},
    {&wabt::Features::set_tail_call_enabled, "tail calls"},
    {&wabt::Features::set_memory64_enabled, "64-bit memory (memory64)"},
    {&wabt::Features::set_multi_memory_enabled, "multiple memories"},
    {&wabt::Features::set_gc_enabled, "garbage collection (GC)"},
    {&wabt::Features::set_function_references_enabled, "typed function references"},
    {&wabt::Features::set_extended_const_enabled, "extended constant expressions"},
    {&wabt::Features::set_relaxed_simd_enabled, "relaxed SIMD"},
};

constexpr uint8_t kMagic[] = {0x00, 'a', 's', 'm'};
constexpr size_t kHeaderSize = 8;  // magic + version

// The function that nests deepest past kMaxNesting, and how deep: (index, depth).
std::optional<std::pair<wabt::Index, size_t>> too_deep(wabt::Module& m) {
  for (wabt::Index i = m.num_func_imports; i < m.funcs.size(); ++i) {
    const size_t depth = nesting_depth(m.funcs[i]->exprs);
    if (depth > kMaxNesting) return std::pair{i, depth};
  }
  return std::nullopt;
}

// Reads and validates. A module that nests too deep is not validated (`deep` says where), and
// one that is not kept (no `out`, or a failure) is dismantled before it goes (see kMaxNesting).
bool parses(std::span<const uint8_t> wasm, const wabt::Features& features, wabt::Errors* errors,
            wabt::Module* out, std::optional<std::pair<wabt::Index, size_t>>* deep = nullptr) {
  wabt::ReadBinaryOptions options(features, nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/false);
  wabt::Module scratch;
  wabt::Module* target = out ? out : &scratch;
  bool ok = wabt::Succeeded(wabt::ReadBinaryIr("module", wasm.data(), wasm.size(), options, errors, target));
  if (auto where = too_deep(*target)) {
    if (deep) *deep = where;
    ok = false;
  } else if (ok) {
    wabt::ValidateOptions vopts(features);
    ok = wabt::Succeeded(wabt::ValidateModule(target, errors, vopts));
  }
  if (!ok || !out) dismantle(*target);
  return ok;
}

bool parses(std::span<const uint8_t> wasm, const wabt::Features& features) {
  wabt::Errors ignored;
  return parses(wasm, features, &ignored, nullptr);
}

// wabt calls every short input a bad magic number; a cut-off header deserves its own message.
std::optional<std::string> header_problem(std::span<const uint8_t> wasm) {
  if (wasm.empty()) return "not a WebAssembly module (empty input)";
  const size_t n = std::min(wasm.size(), sizeof kMagic);
  if (std::memcmp(wasm.data(), kMagic, n) != 0) return "not a WebAssembly module (bad magic)";
  if (wasm.size() < kHeaderSize) return "truncated module (the input ends inside the header)";
  return std::nullopt;
}

// Reads an unsigned LEB128 of at most 5 bytes at `pos`; nullopt if the input ends inside it.
// An over-long encoding is left to wabt to report (it returns what was read so far).
std::optional<uint64_t> read_leb_u32(std::span<const uint8_t> wasm, size_t& pos) {
  uint64_t value = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (pos >= wasm.size()) return std::nullopt;
    const uint8_t byte = wasm[pos++];
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) break;
  }
  return value;
}

// True if the input ends inside a section: the file was cut off. (A cut exactly between sections
// leaves a shorter module that may even be valid; only wabt's checks can notice that.)
bool ends_inside_a_section(std::span<const uint8_t> wasm) {
  size_t pos = kHeaderSize;
  while (pos < wasm.size()) {
    ++pos;  // section id
    const auto size = read_leb_u32(wasm, pos);
    if (!size || *size > wasm.size() - pos) return true;
    pos += *size;
  }
  return false;
}

// The unsupported features the module needs: those it stops validating without, once all of them
// are allowed. Empty if allowing them all does not make it valid (it has some other problem).
std::vector<const char*> unsupported_features_used(std::span<const uint8_t> wasm) {
  wabt::Features all = supported_features();
  for (const auto& f : kUnsupported) (all.*f.set)(true);
  std::vector<const char*> used;
  if (!parses(wasm, all)) return used;
  for (const auto& f : kUnsupported) {
    wabt::Features without = all;
    (without.*f.set)(false);
    if (!parses(wasm, without)) used.push_back(f.name);
  }
  return used;
}

std::string first_error(const wabt::Errors& errors) {
  if (errors.empty()) return "invalid module";
  return fmt::format("{} (at byte {:#x})", errors.front().message, errors.front().loc.offset);
}

ValType val_type(wabt::Type t, std::string_view where, std::string_view label) {
  switch (t) {
    case wabt::Type::I32: return ValType::I32;
    case wabt::Type::I64: return ValType::I64;
    case wabt::Type::F32: return ValType::F32;
    case wabt::Type::F64: return ValType::F64;
    default:
      throw LoadError(fmt::format("{}: {} uses type {} in its signature, which actors cannot use",
                                  label, where, t.GetName()));
  }
}

FuncSig func_sig(const wabt::FuncSignature& s, std::string_view where, std::string_view label) {
  FuncSig sig;
  for (auto t : s.param_types) sig.params.push_back(val_type(t, where, label));
  for (auto t : s.result_types) sig.results.push_back(val_type(t, where, label));
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

const char* type_name(ValType t) {
  switch (t) {
    case ValType::I32: return "i32";
    case ValType::I64: return "i64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
  }
  return "?";
}

}  // namespace

wabt::Features supported_features() {
  wabt::Features f;  // wabt's defaults, minus what wasm2c 1.0.32 cannot compile
  for (const auto& u : kUnsupported) (f.*u.set)(false);
  f.enable_mutable_globals();
  f.enable_sat_float_to_int();
  f.enable_sign_extension();
  f.enable_multi_value();
  f.enable_bulk_memory();
  f.enable_reference_types();
  return f;
}

void read_module(std::span<const uint8_t> wasm, std::string_view label, wabt::Module* out) {
  if (auto problem = header_problem(wasm)) throw LoadError(fmt::format("{}: {}", label, *problem));
  wabt::Errors errors;
  std::optional<std::pair<wabt::Index, size_t>> deep;
  if (parses(wasm, supported_features(), &errors, out, &deep)) return;
  if (deep) {
    throw LoadError(fmt::format("{}: function {} nests blocks {} deep; the engine allows at most {}", label,
                                deep->first, deep->second, kMaxNesting));
  }
  if (ends_inside_a_section(wasm)) {
    throw LoadError(fmt::format("{}: truncated module (the input ends inside a section, after {} bytes)",
                                label, wasm.size()));
  }
  const auto used = unsupported_features_used(wasm);
  if (used.size() == 1) {
    throw LoadError(fmt::format("{}: uses the WebAssembly feature {}, which this engine does not support",
                                label, used.front()));
  }
  if (!used.empty()) {
    throw LoadError(fmt::format("{}: uses the WebAssembly features {}, which this engine does not support",
                                label, fmt::join(used, ", ")));
  }
  throw LoadError(fmt::format("{}: {}", label, first_error(errors)));
}

size_t nesting_depth(wabt::ExprList& body) {
  size_t deepest = 0;
  std::vector<std::pair<wabt::ExprList*, size_t>> pending{{&body, 0}};
  while (!pending.empty()) {
    auto [list, depth] = pending.back();
    pending.pop_back();
    deepest = std::max(deepest, depth);
    for (auto& e : *list) for_each_body(e, [&](wabt::ExprList& nested) { pending.push_back({&nested, depth + 1}); });
  }
  return deepest;
}

void dismantle(wabt::Module& m) {
  for (wabt::Func* f : m.funcs) {
    wabt::ExprList flat;
    flat.splice(flat.end(), f->exprs);
    // Appended lists are walked too: every nested list ends up empty, its expressions in `flat`.
    for (auto& e : flat) for_each_body(e, [&](wabt::ExprList& nested) { flat.splice(flat.end(), nested); });
  }
}

static ModuleInfo inspect_here(std::span<const uint8_t> wasm, std::string_view label);

ModuleInfo inspect(std::span<const uint8_t> wasm, std::string_view label) {
  return with_module_stack([&] { return inspect_here(wasm, label); });
}

static ModuleInfo inspect_here(std::span<const uint8_t> wasm, std::string_view label) {
  wabt::Module m;
  read_module(wasm, label, &m);
  ModuleInfo info;
  info.sha256 = sha256_hex(wasm);
  for (const wabt::Import* imp : m.imports) {
    if (auto* fi = wabt::dyn_cast<wabt::FuncImport>(imp)) {
      const auto where = fmt::format("import {}.{}", imp->module_name, imp->field_name);
      info.imports.push_back({imp->module_name, imp->field_name, func_sig(fi->func.decl.sig, where, label)});
    } else {
      info.other_imports.push_back(
          fmt::format("{}.{} ({})", imp->module_name, imp->field_name, kind_name(imp->kind())));
    }
  }
  for (const wabt::Export* ex : m.exports) {
    if (ex->kind == wabt::ExternalKind::Func) {
      const wabt::Func* f = m.GetFunc(ex->var);
      info.functions.push_back({ex->name, func_sig(f->decl.sig, "export " + ex->name, label)});
    } else {
      info.other_exports.push_back(ex->name);
      if (ex->kind == wabt::ExternalKind::Memory && ex->name == "memory") info.exports_memory = true;
    }
  }
  // wabt lists an imported memory first, like the index space does; multi-memory is refused.
  if (!m.memories.empty()) {
    const auto& limits = m.memories.front()->page_limits;
    info.memory_initial_pages = static_cast<uint32_t>(limits.initial);
    info.memory_max_pages = limits.has_max ? static_cast<uint32_t>(limits.max) : UINT32_MAX;
  }
  return info;
}

// ---- small parts of engine.hpp -----------------------------------------------------------------

std::string FuncSig::str() const {
  auto list = [](const std::vector<ValType>& types) {
    std::string s;
    for (size_t i = 0; i < types.size(); ++i) s += fmt::format("{}{}", i ? ", " : "", type_name(types[i]));
    return s;
  };
  // A single result goes bare ("-> i32"); none or several are parenthesised ("-> ()").
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

std::optional<std::string> Instance::read_bytes(uint32_t ptr, uint32_t len) {
  auto at = bytes_at(ptr, len);
  if (!at) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(at->data()), len);
}

bool Instance::write_bytes(uint32_t ptr, std::span<const uint8_t> bytes) {
  if (bytes.size() > UINT32_MAX) return false;
  auto at = bytes_at(ptr, static_cast<uint32_t>(bytes.size()));
  if (!at) return false;
  if (!bytes.empty()) std::memcpy(at->data(), bytes.data(), bytes.size());
  return true;
}

bool Instance::write_u32(uint32_t ptr, uint32_t value) {
  // Wasm memory is little-endian, and so is every host this runtime builds for (x86-64, arm64).
  return write_bytes(ptr, {reinterpret_cast<const uint8_t*>(&value), sizeof value});
}

}  // namespace theater::engine
