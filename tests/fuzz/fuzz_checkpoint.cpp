// The checkpoint reader (checkpoint/checkpoint.h) on any bytes, then loading what it accepted into a
// small model, its optimiser and the generator: a UserError at any stage, never a crash. Inputs
// are read as they are and, when they have the checksum's place, sealed with the right CRC, so
// that mutations reach the header, metadata and tensor checks behind the checksum. The model is a
// tiny classifier (a linear layer and a batch norm: parameters, buffers and momentum, in a few
// KB) so that a whole valid checkpoint fits in an input (the seed make_tensor_seeds.py writes).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/safetensors.h"
#include "model/classifier.h"
#include "train/optimizer.h"

namespace {

struct Tiny : rt::Classifier {
  torch::nn::Linear fc = register_module("fc", torch::nn::Linear(4, 10));
  torch::nn::BatchNorm1d bn = register_module("bn", torch::nn::BatchNorm1d(10));
  torch::Tensor forward(torch::Tensor x) override { return bn(fc(x)); }
  std::string arch() const override { return "tiny"; }
  int64_t num_classes() const override { return 10; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Tiny model;
  static auto opt = rt::make_sgd(model, rt::Config{});
  std::vector<unsigned char> bytes(data, data + size);
  for (const bool sealed : {false, true}) {
    if (sealed && !rt::seal_safetensors_checksum(bytes.data(), bytes.size())) break;
    try {
      rt::CheckpointReader reader(bytes, "input", torch::kCPU);
      reader.load_model(model);
      reader.load_optimizer(*opt, model);
      reader.restore_rng();
    } catch (const rt::UserError&) {
    }
  }
  return 0;
}
