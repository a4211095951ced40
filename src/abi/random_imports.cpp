// Handler "random": bytes from the system's CSPRNG (OpenSSL).
#include <openssl/rand.h>

#include "abi/host.hpp"
#include "abi/imports.hpp"

namespace theater::abi {

// Shared with WASI random_get.
bool fill_random(engine::Instance& inst, uint64_t ptr, uint64_t len) {
  if (!inst.in_bounds(static_cast<uint32_t>(ptr), static_cast<uint32_t>(len))) return false;
  auto mem = inst.memory();
  return len == 0 || RAND_bytes(mem.data() + ptr, static_cast<int>(len)) == 1;
}

namespace {
uint64_t random_fill(engine::Instance& inst, const uint64_t* a) {
  return fill_random(inst, a[0], a[1]) ? 0u : static_cast<uint32_t>(kEINVAL);
}
}  // namespace

std::vector<HostImportSpec> random_imports() {
  return {{"theater", "random_fill", "random", sig("ii", "i"), random_fill}};
}

}  // namespace theater::abi
