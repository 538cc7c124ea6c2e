// The safetensors container's parser (core/safetensors.h) on any bytes, with and without the
// checksum required: a UserError or a file whose every range lies inside the input.
#include <cstdint>
#include <cstdlib>

#include "core/errors.h"
#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (const bool checksum : {false, true}) {
    try {
      const auto file = rt::parse_safetensors(data, size, "input", checksum);
      for (const auto& t : file.tensors) {
        if (t.end > size - file.data_offset || t.begin > t.end) std::abort();  // a range outside the input
      }
    } catch (const rt::UserError&) {
    }
  }
  return 0;
}
