#include "abi/abi.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "abi/host.hpp"
#include "abi/imports.hpp"

namespace theater::abi {

const char* rc_name(int32_t rc) {
  switch (rc) {
    case kOk: return "ok";
    case kEINVAL: return "EINVAL";
    case kENOTFOUND: return "ENOTFOUND";
    case kEDENIED: return "EDENIED";
    case kETIMEOUT: return "ETIMEOUT";
    case kEFULL: return "EFULL";
    case kESTOPPED: return "ESTOPPED";
    case kETOOBIG: return "ETOOBIG";
    case kEFAILED: return "EFAILED";
    default: return rc > 0 ? "ok" : "error";
  }
}

int32_t return_bytes(engine::Instance& instance, std::string_view bytes, uint64_t out_ptr,
                     uint64_t out_len) {
  if (!instance.in_bounds(static_cast<uint32_t>(out_ptr), 4) ||
      !instance.in_bounds(static_cast<uint32_t>(out_len), 4)) {
    return kEINVAL;
  }
  uint64_t args[] = {bytes.size()};
  uint64_t result[1] = {0};
  if (auto trap = instance.call("theater_alloc", args, result)) {
    trap->message = "in theater_alloc: " + trap->message;
    instance.raise(std::move(*trap));
    return kEINVAL;
  }
  const auto ptr = static_cast<uint32_t>(result[0]);
  if (ptr == 0 && !bytes.empty()) {
    instance.raise({engine::TrapKind::MemoryLimit, "theater_alloc returned 0 (out of memory)"});
    return kEINVAL;
  }
  if (!instance.write_bytes(ptr, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()})) {
    instance.raise({engine::TrapKind::OutOfBounds, "theater_alloc returned a buffer outside memory"});
    return kEINVAL;
  }
  instance.write_u32(static_cast<uint32_t>(out_ptr), ptr);
  instance.write_u32(static_cast<uint32_t>(out_len), static_cast<uint32_t>(bytes.size()));
  return kOk;
}

std::optional<std::string_view> capability_of(std::string_view module, std::string_view name) {
  for (const auto& spec : all_imports()) {
    if (spec.module == module && spec.name == name) return spec.capability;
  }
  return std::nullopt;
}

const engine::Linker& linker() {
  static const engine::Linker instance = [] {
    engine::Linker l;
    for (const auto& spec : all_imports()) {
      l.define(std::string(spec.module), std::string(spec.name), spec.sig, spec.fn);
    }
    return l;
  }();
  return instance;
}

void check_imports(const engine::ModuleInfo& info, const std::vector<std::string>& granted,
                   std::string_view label) {
  for (const auto& other : info.other_imports) {
    throw engine::LoadError(fmt::format("{}: imports {}; actors may import only functions", label, other));
  }
  for (const auto& imp : info.imports) {
    const HostImportSpec* spec = find_import(imp.module, imp.name);
    if (!spec || spec->name.starts_with("__")) {
      throw engine::LoadError(fmt::format(
          "{}: import {}.{} is not part of the actor ABI (see actor-abi.md){}", label, imp.module,
          imp.name,
          imp.module == "wasi_snapshot_preview1" ? "; only a WASI subset is offered" : ""));
    }
    if (!(spec->sig == imp.sig)) {
      throw engine::LoadError(fmt::format("{}: import {}.{} has signature {}, the ABI says {}", label,
                                          imp.module, imp.name, imp.sig.str(), spec->sig.str()));
    }
    const auto cap = spec->capability;
    if (cap == "runtime" || cap == "wasi") continue;
    if (std::find(granted.begin(), granted.end(), cap) == granted.end()) {
      throw engine::LoadError(fmt::format(
          "{}: import {}.{} needs handler \"{}\", which the manifest does not grant (add it to handlers)",
          label, imp.module, imp.name, cap));
    }
  }
}

void check_exports(const engine::ModuleInfo& info, std::string_view label) {
  using engine::ValType;
  if (!info.exports_memory) throw engine::LoadError(fmt::format("{}: does not export its memory as \"memory\"", label));
  for (const auto& [name, sig] : abi_exports()) {
    const engine::FuncExport* fx = info.find_function(name);
    if (!fx) {
      if (name == "theater_alloc") {
        throw engine::LoadError(fmt::format("{}: missing required export theater_alloc (size) -> ptr", label));
      }
      continue;
    }
    if (!(fx->sig == sig)) {
      throw engine::LoadError(fmt::format("{}: export {} has signature {}, the ABI says {}", label, name,
                                          fx->sig.str(), sig.str()));
    }
  }
}

}  // namespace theater::abi
