// Handler "store": content-addressed blobs, named "sha256:<hex>", shared by all actors.
#include "abi/host_io.hpp"
#include "abi/imports.hpp"
#include "actor/runtime.hpp"
#include "base/sha256.hpp"

namespace theater::abi {
namespace {

uint64_t store_put(engine::Instance& inst, const uint64_t* a) {
  auto bytes = read_guest(inst, a[0], a[1]);
  if (!bytes) return static_cast<uint32_t>(kEINVAL);
  auto out = host_io(inst, HostCall::StorePut, {}, *bytes,
                     [&] { return HostOutcome{kOk, actor_of(inst).runtime().blobs().put(*bytes)}; });
  return rc_or_bytes(inst, out, a[2], a[3]);
}

uint64_t store_get(engine::Instance& inst, const uint64_t* a) {
  auto ref = read_guest(inst, a[0], a[1]);
  if (!ref) return static_cast<uint32_t>(kEINVAL);
  auto out = host_io(inst, HostCall::StoreGet, *ref, {}, [&] {
    auto bytes = actor_of(inst).runtime().blobs().get(*ref);
    return bytes ? HostOutcome{kOk, std::move(*bytes)} : HostOutcome{kENOTFOUND, {}};
  });
  return rc_or_bytes(inst, out, a[2], a[3]);
}

}  // namespace

std::vector<HostImportSpec> store_imports() {
  return {
      {"theater", "store_put", "store", sig("iiii", "i"), store_put},
      {"theater", "store_get", "store", sig("iiii", "i"), store_get},
  };
}

}  // namespace theater::abi
