#include "model/precision.h"

#include <ATen/autocast_mode.h>

#include <fstream>

#include "core/errors.h"

#ifdef RT_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace rt {

namespace {

bool cpu_has_bf16() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      return line.find(" avx512_bf16") != std::string::npos || line.find(" amx_bf16") != std::string::npos;
    }
  }
  return false;
}

}  // namespace

bool bf16_native(const torch::Device& device) {
  if (device.is_cuda()) {  // compute capability 8.0 (Ampere) and later; older GPUs emulate it
#ifdef RT_WITH_CUDA
    const auto index = device.has_index() ? device.index() : at::cuda::current_device();
    return at::cuda::getDeviceProperties(index)->major >= 8;
#else
    return false;
#endif
  }
  static const bool cpu = cpu_has_bf16();
  return cpu;
}

Precision resolve_precision(const std::string& amp, const torch::Device& device) {
  if (amp == "none" || amp == "fp32") return Precision::kFloat32;
  if (amp == "bf16") return Precision::kBFloat16;
  if (amp == "auto") return bf16_native(device) ? Precision::kBFloat16 : Precision::kFloat32;
  throw UserError(fmt::format("--amp must be auto, bf16 or none, got '{}'", amp));
}

std::string precision_name(Precision p) { return p == Precision::kBFloat16 ? "bf16" : "fp32"; }

AutocastGuard::AutocastGuard(const torch::Device& device, Precision precision) {
  if (precision == Precision::kFloat32) return;
  active_ = true;
  type_ = device.type();
  was_enabled_ = at::autocast::is_autocast_enabled(type_);
  old_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_enabled(type_, true);
  at::autocast::set_autocast_dtype(type_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // As torch.autocast's __exit__: the cast cache lives until the outermost region ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  at::autocast::set_autocast_dtype(type_, old_dtype_);
}

void to_channels_last(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (auto& b : model.buffers()) {
    if (b.dim() == 4) b.set_data(b.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

torch::Tensor to_model_format(const torch::Tensor& images, bool channels_last) {
  return channels_last ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images;
}

}  // namespace rt
