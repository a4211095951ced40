// The WASI subset (wasi_snapshot_preview1) that lets ordinary C/C++/Rust programs load:
// stdout/stderr go to the actor's log; clocks, random, environment from the manifest; proc_exit
// is a normal exit with the code as result. Everything else is refused at load time.
#include <time.h>

#include <fmt/format.h>

#include "abi/host_io.hpp"
#include "abi/imports.hpp"
#include "actor/runtime.hpp"

namespace theater::abi {

bool fill_random(engine::Instance& inst, uint64_t ptr, uint64_t len, HostCall call);

namespace {

// WASI errno values.
constexpr uint32_t kSuccess = 0, kEBADF = 8, kEFAULT = 21, kEINVALW = 28, kESPIPE = 70;

bool is_stdio(uint64_t fd) { return fd <= 2; }

uint64_t fd_write(engine::Instance& inst, const uint64_t* a) {
  const uint64_t fd = a[0], iovs = a[1], count = a[2], nwritten = a[3];
  if (fd != 1 && fd != 2) return kEBADF;
  if (count > 1024 || !inst.in_bounds(static_cast<uint32_t>(iovs), static_cast<uint32_t>(count * 8)) ||
      !inst.in_bounds(static_cast<uint32_t>(nwritten), 4)) {
    return kEFAULT;
  }
  std::string text;
  for (uint64_t i = 0; i < count; ++i) {
    auto entry = read_guest(inst, iovs + i * 8, 8);
    uint32_t ptr, len;
    std::memcpy(&ptr, entry->data(), 4);
    std::memcpy(&len, entry->data() + 4, 4);
    auto part = read_guest(inst, ptr, len);
    if (!part) return kEFAULT;
    text += *part;
  }
  inst.write_u32(static_cast<uint32_t>(nwritten), static_cast<uint32_t>(text.size()));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty()) {
    auto& actor = actor_of(inst);
    actor.runtime().record(actor, "log", fmt::format("[{}] {}", fd == 1 ? "stdout" : "stderr", text));
  }
  return kSuccess;
}

uint64_t clock_time_get(engine::Instance& inst, const uint64_t* a) {
  const uint64_t id = a[0], out = a[2];
  if (!inst.in_bounds(static_cast<uint32_t>(out), 8)) return kEFAULT;
  if (id > 1) return kEINVALW;
  const char key = static_cast<char>(id);
  auto r = host_io(inst, HostCall::ClockTimeGet, {&key, 1}, {}, [&] {
    timespec ts{};
    clock_gettime(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
    const uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
    return HostOutcome{kSuccess, std::string(reinterpret_cast<const char*>(&ns), 8)};
  });
  if (r.bytes.size() != 8) return kEFAULT;
  inst.write_bytes(static_cast<uint32_t>(out), {reinterpret_cast<const uint8_t*>(r.bytes.data()), 8});
  return static_cast<uint32_t>(r.rc);
}

uint64_t random_get(engine::Instance& inst, const uint64_t* a) {
  return fill_random(inst, a[0], a[1], HostCall::RandomGet) ? kSuccess : kEFAULT;
}

uint64_t proc_exit(engine::Instance& inst, const uint64_t* a) {
  inst.raise({engine::TrapKind::Exit, std::to_string(static_cast<uint32_t>(a[0]))});
  return 0;
}

uint64_t args_sizes_get(engine::Instance& inst, const uint64_t* a) {
  if (!inst.write_u32(static_cast<uint32_t>(a[0]), 0) || !inst.write_u32(static_cast<uint32_t>(a[1]), 0)) {
    return kEFAULT;
  }
  return kSuccess;
}

uint64_t args_get(engine::Instance&, const uint64_t*) { return kSuccess; }

// "KEY=VALUE\0" strings from the manifest's [environment].
std::vector<std::string> environment(engine::Instance& inst) {
  std::vector<std::string> out;
  for (const auto& [k, v] : actor_of(inst).manifest().environment) out.push_back(k + "=" + v + '\0');
  return out;
}

uint64_t environ_sizes_get(engine::Instance& inst, const uint64_t* a) {
  auto env = environment(inst);
  uint32_t bytes = 0;
  for (const auto& e : env) bytes += static_cast<uint32_t>(e.size());
  if (!inst.write_u32(static_cast<uint32_t>(a[0]), static_cast<uint32_t>(env.size())) ||
      !inst.write_u32(static_cast<uint32_t>(a[1]), bytes)) {
    return kEFAULT;
  }
  return kSuccess;
}

uint64_t environ_get(engine::Instance& inst, const uint64_t* a) {
  auto env = environment(inst);
  auto ptrs = static_cast<uint32_t>(a[0]);
  auto buf = static_cast<uint32_t>(a[1]);
  for (const auto& e : env) {
    if (!inst.write_u32(ptrs, buf) ||
        !inst.write_bytes(buf, {reinterpret_cast<const uint8_t*>(e.data()), e.size()})) {
      return kEFAULT;
    }
    ptrs += 4;
    buf += static_cast<uint32_t>(e.size());
  }
  return kSuccess;
}

uint64_t fd_close(engine::Instance&, const uint64_t* a) { return is_stdio(a[0]) ? kSuccess : kEBADF; }

uint64_t fd_seek(engine::Instance&, const uint64_t* a) { return is_stdio(a[0]) ? kESPIPE : kEBADF; }

uint64_t fd_fdstat_get(engine::Instance& inst, const uint64_t* a) {
  if (!is_stdio(a[0])) return kEBADF;
  // struct fdstat { u8 filetype; u16 flags; u64 rights_base; u64 rights_inheriting; } = 24 bytes
  uint8_t stat[24] = {};
  stat[0] = 2;  // character device: stdio is line-buffered, as on a terminal
  stat[8] = 1 << 6;  // fd_write right
  if (!inst.write_bytes(static_cast<uint32_t>(a[1]), stat)) return kEFAULT;
  return kSuccess;
}

}  // namespace

std::vector<HostImportSpec> wasi_imports() {
  constexpr std::string_view w = "wasi_snapshot_preview1";
  return {
      {w, "fd_write", "wasi", sig("iiii", "i"), fd_write},
      {w, "clock_time_get", "wasi", sig("iIi", "i"), clock_time_get},
      {w, "random_get", "wasi", sig("ii", "i"), random_get},
      {w, "proc_exit", "wasi", sig("i", ""), proc_exit},
      {w, "args_sizes_get", "wasi", sig("ii", "i"), args_sizes_get},
      {w, "args_get", "wasi", sig("ii", "i"), args_get},
      {w, "environ_sizes_get", "wasi", sig("ii", "i"), environ_sizes_get},
      {w, "environ_get", "wasi", sig("ii", "i"), environ_get},
      {w, "fd_close", "wasi", sig("i", "i"), fd_close},
      {w, "fd_seek", "wasi", sig("iIii", "i"), fd_seek},
      {w, "fd_fdstat_get", "wasi", sig("ii", "i"), fd_fdstat_get},
  };
}

}  // namespace theater::abi
