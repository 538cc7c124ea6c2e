// The restricted unpickler (core/restricted_unpickler.h) on any bytes: a UserError or values
// whose tensors lie inside their declared storages.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "core/restricted_unpickler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const rt::Pickle p = rt::unpickle_restricted(std::string(reinterpret_cast<const char*>(data), size), "input");
    for (const auto& v : p.arena) {
      if (v->kind != rt::PickleValue::Kind::kTensor) continue;
      uint64_t end = static_cast<uint64_t>(v->tensor.offset), numel = 1;
      for (size_t d = 0; d < v->tensor.sizes.size(); ++d) {
        numel *= static_cast<uint64_t>(v->tensor.sizes[d]);
        if (v->tensor.sizes[d] > 0) end += static_cast<uint64_t>(v->tensor.sizes[d] - 1) * v->tensor.strides[d];
      }
      if (numel > 0 && end >= v->tensor.storage.numel) std::abort();  // outside its storage
    }
  } catch (const rt::UserError&) {
  }
  return 0;
}
