// Handler "random": bytes from the system's CSPRNG (OpenSSL).
#include <openssl/rand.h>

#include "abi/host_io.hpp"
#include "abi/imports.hpp"

namespace theater::abi {

// Shared with WASI random_get. Recorded in the event chain (the bytes are outside data).
bool fill_random(engine::Instance& inst, uint64_t ptr, uint64_t len, HostCall call) {
  if (!inst.in_bounds(static_cast<uint32_t>(ptr), static_cast<uint32_t>(len))) return false;
  if (len == 0) return true;
  if (!actor_of(inst).io()) return RAND_bytes(inst.memory().data() + ptr, static_cast<int>(len)) == 1;
  auto out = host_io(inst, call, {}, {}, [&] {
    HostOutcome o;
    o.bytes.resize(len);
    o.rc = RAND_bytes(reinterpret_cast<uint8_t*>(o.bytes.data()), static_cast<int>(len)) == 1 ? kOk : kEINVAL;
    return o;
  });
  return out.rc == kOk && out.bytes.size() == len &&
         inst.write_bytes(static_cast<uint32_t>(ptr), {reinterpret_cast<const uint8_t*>(out.bytes.data()), len});
}

namespace {
uint64_t random_fill(engine::Instance& inst, const uint64_t* a) {
  return fill_random(inst, a[0], a[1], HostCall::RandomFill) ? 0u : static_cast<uint32_t>(kEINVAL);
}
}  // namespace

std::vector<HostImportSpec> random_imports() {
  return {{"theater", "random_fill", "random", sig("ii", "i"), random_fill}};
}

}  // namespace theater::abi
