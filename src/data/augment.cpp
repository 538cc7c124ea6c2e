#include "data/augment.h"

#include <ATen/core/PhiloxRNGEngine.h>

#include <numeric>

#include "core/errors.h"
#include "core/seed.h"

namespace rt {

CropFlip draw_crop_flip(uint64_t seed, int64_t epoch, int64_t sample_index) {
  at::Philox4_32 engine(derive_seed(seed, SeedPurpose::kAugment, static_cast<uint64_t>(epoch)),
                        /*subsequence=*/static_cast<uint64_t>(sample_index));
  CropFlip cf;
  cf.dy = static_cast<int>(engine() % 9);
  cf.dx = static_cast<int>(engine() % 9);
  cf.flip = (engine() & 1u) != 0;
  return cf;
}

torch::Tensor make_batch(const torch::Tensor& images, const int64_t* indices, int64_t count, const Normalization& norm,
                         bool augment, uint64_t seed, int64_t epoch) {
  constexpr int kSide = 32, kPad = 4, kPlane = kSide * kSide;
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
    const CropFlip cf = augment ? draw_crop_flip(seed, epoch, idx) : CropFlip{};
    const uint8_t* src = src_all + idx * 3 * kPlane;
    for (int c = 0; c < 3; ++c) {
      const float* l = lut[c];
      for (int y = 0; y < kSide; ++y) {
        float* row = dst + ((b * 3 + c) * kSide + y) * kSide;
        const int sy = y + cf.dy - kPad;
        if (sy < 0 || sy >= kSide) {
          std::fill(row, row + kSide, l[0]);
          continue;
        }
        const uint8_t* srow = src + c * kPlane + sy * kSide;
        for (int x = 0; x < kSide; ++x) {
          // Crop first, then flip the cropped image: output x reads cropped column 31 - x.
          const int sx = (cf.flip ? (kSide - 1 - x) : x) + cf.dx - kPad;
          row[x] = (sx < 0 || sx >= kSide) ? l[0] : l[srow[sx]];
        }
      }
    }
  }
  return out;
}

DeviceEpochPlan::DeviceEpochPlan(const torch::Device& device, const std::vector<int64_t>& order,
                                 const Normalization& norm, bool augment, uint64_t seed, int64_t epoch) {
  const auto n = static_cast<int64_t>(order.size());
  auto host = torch::empty({n, 4}, torch::TensorOptions(torch::kInt64).pinned_memory(device.is_cuda()));
  auto* row = host.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i, row += 4) {
    const CropFlip cf = augment ? draw_crop_flip(seed, epoch, order[static_cast<size_t>(i)]) : CropFlip{};
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
  constexpr int64_t kSide = 32, kPad = 4;
  const auto p = plan_.narrow(0, begin, count);
  const auto i64 = torch::TensorOptions(torch::kInt64).device(plan_.device());
  // Zero-pad in pixel space (a padded pixel is value 0, as in make_batch), then normalise.
  auto padded = torch::constant_pad_nd(images.index_select(0, p.select(1, 0)), {kPad, kPad, kPad, kPad}, 0);
  padded = (padded.to(torch::kFloat32) / 255.0f - mean_) / std_;
  // Output pixel (y, x) reads padded (dy + y, dx + x), or dx + 31 - x when flipped.
  const auto ar = torch::arange(kSide, i64).view({1, kSide});
  const auto rows = p.narrow(1, 1, 1) + ar;  // [B, 32]
  const auto cols = p.narrow(1, 2, 1) + torch::where(p.narrow(1, 3, 1).to(torch::kBool), kSide - 1 - ar, ar);
  const auto b_idx = torch::arange(count, i64).view({count, 1, 1, 1});
  const auto c_idx = torch::arange(3, i64).view({1, 3, 1, 1});
  return padded.index({b_idx, c_idx, rows.view({count, 1, kSide, 1}), cols.view({count, 1, 1, kSide})}).contiguous();
}

torch::Tensor first_images(const Dataset& data, int64_t count) {
  TORCH_CHECK(!data.streamed(), "first_images: the data set is not in memory");
  const int64_t n = std::min(count, data.size());
  const auto images = data.images.narrow(0, 0, n).cpu().contiguous();
  std::vector<int64_t> indices(static_cast<size_t>(n));
  std::iota(indices.begin(), indices.end(), int64_t{0});
  return make_batch(images, indices.data(), n, data.norm, /*augment=*/false, 0, 0);
}

}  // namespace rt
