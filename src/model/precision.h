// How a model computes: precision (bf16 autocast) and memory format (channels_last).
//
// --amp bf16 runs the forward pass under autocast, as torch.autocast(device, torch.bfloat16)
// does in Python: convolutions and matrix products in bfloat16, reductions, softmax and the
// loss in float32; parameters, gradients and the optimiser stay float32. --amp auto picks
// bf16 where the hardware computes it natively (CUDA; CPUs with AVX512-BF16 or AMX) and
// float32 elsewhere. --channels-last stores 4-d weights and inputs as NHWC, the layout
// oneDNN and cuDNN convolutions prefer.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/classifier.h"

namespace rt {

enum class Precision { kFloat32, kBFloat16 };

// Whether `device` computes bfloat16 natively.
bool bf16_native(const torch::Device& device);

// "none" | "fp32" -> float32, "bf16" -> bfloat16, "auto" -> bfloat16 where native.
// Throws UserError for other names.
Precision resolve_precision(const std::string& amp, const torch::Device& device);
std::string precision_name(Precision p);  // "fp32" | "bf16"

// Autocast for the forward pass on `device` while alive (nothing for float32).
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  at::ScalarType old_dtype_ = at::kFloat;
};

// Converts the model's 4-d parameters and buffers to channels_last (NHWC strides; same
// values, same shapes). Call before the optimiser is made.
void to_channels_last(torch::nn::Module& model);

// Input images in the memory format of the model's first convolution.
torch::Tensor to_model_format(const torch::Tensor& images, bool channels_last);

}  // namespace rt
