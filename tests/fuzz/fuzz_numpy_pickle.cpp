// The restricted unpickler's numpy vocabulary (core/restricted_unpickler.h, what the CIFAR python
// batches are read with) on any bytes: a UserError, or values whose arrays hold exactly their
// shape times their item size in bytes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "core/restricted_unpickler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const rt::Pickle p = rt::unpickle_restricted(std::string(reinterpret_cast<const char*>(data), size), "input",
                                                 rt::PickleVocabulary::kNumpyArrays);
    for (const auto& v : p.arena) {
      if (v->kind != rt::PickleValue::Kind::kArray || v->array.data == nullptr) continue;
      uint64_t bytes = static_cast<uint64_t>(v->array.item_size());
      for (const int64_t d : v->array.shape) bytes *= static_cast<uint64_t>(d);
      if (bytes != v->array.data->text.size()) std::abort();  // an array that lies about its bytes
    }
  } catch (const rt::UserError&) {
  }
  return 0;
}
