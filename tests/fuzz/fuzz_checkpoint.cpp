// The checkpoint reader (train/checkpoint.h) on any bytes, then loading what it accepted into a
// small model, its optimiser and the generator: a UserError at any stage, never a crash.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "core/config.h"
#include "core/errors.h"
#include "model/registry.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto model = rt::make_model("resnet20", 10);
  static auto opt = rt::make_sgd(*model, rt::Config{});
  try {
    rt::CheckpointReader reader(std::vector<unsigned char>(data, data + size), "input", torch::kCPU);
    reader.load_model(*model);
    reader.load_optimizer(*opt, *model);
    reader.restore_rng();
  } catch (const rt::UserError&) {
  }
  return 0;
}
