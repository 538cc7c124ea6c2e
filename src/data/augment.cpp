#include "data/augment.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/PhiloxRNGEngine.h>

#include <algorithm>
#include <numeric>

#include "core/errors.h"
#include "core/seed.h"

namespace rt {

CropFlip draw_crop_flip(const Augmentation& aug, uint64_t seed, int64_t epoch, int64_t sample_index) {
  at::Philox4_32 engine(derive_seed(seed, SeedPurpose::kAugment, static_cast<uint64_t>(epoch)),
                        /*subsequence=*/static_cast<uint64_t>(sample_index));
  const auto span = static_cast<uint32_t>(2 * aug.pad + 1);
  CropFlip cf;
  cf.dy = static_cast<int>(engine() % span);
  cf.dx = static_cast<int>(engine() % span);
  const bool coin = (engine() & 1u) != 0;
  switch (aug.flip) {
    case Augmentation::Flip::kRandom:
      cf.flip = coin;
      break;
    case Augmentation::Flip::kNone:
      cf.flip = false;
      break;
    case Augmentation::Flip::kAlternate: {  // the sample's own coin, reversed in every odd epoch
      at::Philox4_32 own(derive_seed(seed, SeedPurpose::kFlip), static_cast<uint64_t>(sample_index));
      cf.flip = ((own() & 1u) != 0) != (epoch % 2 == 1);
      break;
    }
  }
  return cf;
}

Augmentation augmentation(const Config& cfg) {
  Augmentation a(cfg.augment);
  a.pad = static_cast<int>(cfg.translate);
  a.reflect = cfg.pad_mode == "reflect";
  a.flip = cfg.flip == "alternate" ? Augmentation::Flip::kAlternate
           : cfg.flip == "none"    ? Augmentation::Flip::kNone
                                   : Augmentation::Flip::kRandom;
  return a;
}

namespace {

// The source row (or column) of output position `i` (0..31) shifted by `d - pad`: inside the
// image, reflected at its edges (torch's 'reflect'), or -1 for a zero-padded pixel.
inline int source_index(int i, int d, int pad, bool reflect) {
  constexpr int kSide = 32;
  int s = i + d - pad;
  if (s >= 0 && s < kSide) return s;
  if (!reflect) return -1;
  return s < 0 ? -s : 2 * (kSide - 1) - s;
}

}  // namespace

torch::Tensor make_batch(const torch::Tensor& images, const int64_t* indices, int64_t count, const Normalization& norm,
                         const Augmentation& aug, uint64_t seed, int64_t epoch) {
  constexpr int kSide = 32, kPlane = kSide * kSide;
  TORCH_CHECK(aug.pad >= 0 && aug.pad <= 16, "augmentation: pad must be in 0..16");
  TORCH_INTERNAL_ASSERT(images.dtype() == torch::kUInt8 && images.is_contiguous() && images.dim() == 4 &&
                        images.size(1) == 3 && images.size(2) == kSide);
  // Per channel: pixel value -> normalised float, and the value of a zero-padded pixel.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) channel_lut(norm, c, lut[c]);
  auto out = torch::empty({count, 3, kSide, kSide}, torch::kFloat32);
  float* dst = out.data_ptr<float>();
  const uint8_t* src_all = images.data_ptr<uint8_t>();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t idx = indices[b];
    const CropFlip cf = aug.enabled ? draw_crop_flip(aug, seed, epoch, idx) : CropFlip{aug.pad, aug.pad, false};
    const uint8_t* src = src_all + idx * 3 * kPlane;
    int sxs[kSide];  // each output column's source column, or -1 (zero padding)
    for (int x = 0; x < kSide; ++x) {
      // Crop first, then flip the cropped image: output x reads cropped column 31 - x.
      sxs[x] = source_index(cf.flip ? (kSide - 1 - x) : x, cf.dx, aug.pad, aug.reflect);
    }
    for (int c = 0; c < 3; ++c) {
      const float* l = lut[c];
      for (int y = 0; y < kSide; ++y) {
        float* row = dst + ((b * 3 + c) * kSide + y) * kSide;
        const int sy = source_index(y, cf.dy, aug.pad, aug.reflect);
        if (sy < 0) {
          std::fill(row, row + kSide, l[0]);
          continue;
        }
        const uint8_t* srow = src + c * kPlane + sy * kSide;
        for (int x = 0; x < kSide; ++x) row[x] = sxs[x] < 0 ? l[0] : l[srow[sxs[x]]];
      }
    }
  }
  return out;
}

DeviceEpochPlan::DeviceEpochPlan(const torch::Device& device, const std::vector<int64_t>& order,
                                 const Normalization& norm, const Augmentation& aug, uint64_t seed, int64_t epoch)
    : pad_(aug.pad), reflect_(aug.reflect) {
  TORCH_CHECK(aug.pad >= 0 && aug.pad <= 16, "augmentation: pad must be in 0..16");
  const auto n = static_cast<int64_t>(order.size());
  auto host = torch::empty({n, 4}, torch::TensorOptions(torch::kInt64).pinned_memory(device.is_cuda()));
  auto* row = host.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i, row += 4) {
    const CropFlip cf = aug.enabled ? draw_crop_flip(aug, seed, epoch, order[static_cast<size_t>(i)])
                                    : CropFlip{aug.pad, aug.pad, false};
    row[0] = order[static_cast<size_t>(i)];
    row[1] = cf.dy;
    row[2] = cf.dx;
    row[3] = cf.flip;
  }
  plan_ = host.to(device, /*non_blocking=*/true);
  const auto f32 = torch::TensorOptions(torch::kFloat32);
  mean_ = torch::tensor({norm.mean[0], norm.mean[1], norm.mean[2]}, f32).view({1, 3, 1, 1}).to(device);
  std_ = torch::tensor({norm.std[0], norm.std[1], norm.std[2]}, f32).view({1, 3, 1, 1}).to(device);
}

torch::Tensor DeviceEpochPlan::batch(const torch::Tensor& images, int64_t begin, int64_t count) const {
  constexpr int64_t kSide = 32;
  const auto p = plan_.narrow(0, begin, count);
  const auto i64 = torch::TensorOptions(torch::kInt64).device(plan_.device());
  const std::vector<int64_t> pads = {pad_, pad_, pad_, pad_};
  torch::Tensor padded;
  if (reflect_) {  // pad the normalised values by reflection: the same values as reflecting pixels
    padded = (images.index_select(0, p.select(1, 0)).to(torch::kFloat32) / 255.0f - mean_) / std_;
    padded = torch::reflection_pad2d(padded, pads);
  } else {  // zero-pad in pixel space (a padded pixel is value 0, as in make_batch), then normalise
    padded = torch::constant_pad_nd(images.index_select(0, p.select(1, 0)), pads, 0);
    padded = (padded.to(torch::kFloat32) / 255.0f - mean_) / std_;
  }
  // Output pixel (y, x) reads padded (dy + y, dx + x), or dx + 31 - x when flipped.
  const auto ar = torch::arange(kSide, i64).view({1, kSide});
  const auto rows = p.narrow(1, 1, 1) + ar;  // [B, 32]
  const auto cols = p.narrow(1, 2, 1) + torch::where(p.narrow(1, 3, 1).to(torch::kBool), kSide - 1 - ar, ar);
  const auto b_idx = torch::arange(count, i64).view({count, 1, 1, 1});
  const auto c_idx = torch::arange(3, i64).view({1, 3, 1, 1});
  return padded.index({b_idx, c_idx, rows.view({count, 1, kSide, 1}), cols.view({count, 1, 1, kSide})}).contiguous();
}

torch::Tensor sample_images(const Dataset& data, int64_t count, uint64_t seed) {
  TORCH_CHECK(!data.streamed(), "sample_images: the data set is not in memory");
  const int64_t n = std::min(count, data.size());
  std::vector<int64_t> indices(static_cast<size_t>(data.size()));
  std::iota(indices.begin(), indices.end(), int64_t{0});
  if (n < data.size()) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(derive_seed(seed, SeedPurpose::kInit, 1));
    const auto perm = torch::randperm(data.size(), gen, torch::kInt64);
    indices.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
    std::sort(indices.begin(), indices.end());
  }
  // Only the chosen images leave the device (all 150 MB of CIFAR-10 would, on CUDA).
  const auto images =
      data.images.index_select(0, torch::tensor(indices, torch::kInt64).to(data.images.device())).cpu().contiguous();
  std::iota(indices.begin(), indices.end(), int64_t{0});  // positions in `images`
  return make_batch(images, indices.data(), n, data.norm, /*augment=*/false, 0, 0);
}

}  // namespace rt
