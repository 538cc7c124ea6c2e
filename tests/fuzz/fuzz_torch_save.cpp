// The torch.save reader (checkpoint/torch_save_reader.h: libarchive's zip, the restricted unpickler,
// the storages) on any bytes, reading every tensor it returns: a UserError, never a crash.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "checkpoint/torch_save_reader.h"
#include "core/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    for (const auto& [name, t] :
         rt::read_torch_save_state_dict(std::vector<unsigned char>(data, data + size), "input")) {
      (void)t.sum().item<double>();  // touches every element of the view
    }
  } catch (const rt::UserError&) {
  }
  return 0;
}
