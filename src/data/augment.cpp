#include "data/augment.h"

#include <ATen/core/PhiloxRNGEngine.h>

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

torch::Tensor make_batch(const torch::Tensor& images, const int64_t* indices, int64_t count,
                         const Normalization& norm, bool augment, uint64_t seed, int64_t epoch) {
  constexpr int kSide = 32, kPad = 4, kPlane = kSide * kSide;
  TORCH_INTERNAL_ASSERT(images.dtype() == torch::kUInt8 && images.is_contiguous() &&
                        images.dim() == 4 && images.size(1) == 3 && images.size(2) == kSide);
  // Per channel: pixel value -> normalised float, and the value of a zero-padded pixel.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - norm.mean[c]) / norm.std[c];
  }
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

torch::Tensor make_batch_on_device(const torch::Tensor& images, const int64_t* indices, int64_t count,
                                   const Normalization& norm, bool augment, uint64_t seed, int64_t epoch) {
  constexpr int64_t kSide = 32, kPad = 4;
  const auto dev = images.device();
  const auto i64 = torch::TensorOptions(torch::kInt64);
  // The choices on the host, one tensor each (not an indexing op per sample).
  std::vector<int64_t> dy(static_cast<size_t>(count)), dx(dy.size());
  std::vector<uint8_t> flip(dy.size());
  for (int64_t b = 0; b < count; ++b) {
    const CropFlip cf = augment ? draw_crop_flip(seed, epoch, indices[b]) : CropFlip{};
    dy[static_cast<size_t>(b)] = cf.dy;
    dx[static_cast<size_t>(b)] = cf.dx;
    flip[static_cast<size_t>(b)] = cf.flip;
  }
  const auto idx = torch::from_blob(const_cast<int64_t*>(indices), {count}, i64).to(dev);
  // Zero-pad in pixel space (a padded pixel is value 0, as in make_batch), then normalise.
  auto padded = torch::constant_pad_nd(images.index_select(0, idx), {kPad, kPad, kPad, kPad}, 0);
  const auto f32 = torch::TensorOptions(torch::kFloat32).device(dev);
  const auto mean = torch::tensor({norm.mean[0], norm.mean[1], norm.mean[2]}, f32).view({1, 3, 1, 1});
  const auto std = torch::tensor({norm.std[0], norm.std[1], norm.std[2]}, f32).view({1, 3, 1, 1});
  padded = (padded.to(torch::kFloat32) / 255.0f - mean) / std;
  // Output pixel (y, x) reads padded (dy + y, dx + x), or dx + 31 - x when flipped.
  const auto ar = torch::arange(kSide, i64);
  const auto as_column = [&](auto& v, torch::ScalarType t) {
    return torch::from_blob(v.data(), {count, 1}, torch::TensorOptions(t));
  };
  const auto flipped = as_column(flip, torch::kBool);
  const auto rows = (as_column(dy, torch::kInt64) + ar.view({1, kSide})).to(dev);
  const auto cols = (as_column(dx, torch::kInt64) + torch::where(flipped, kSide - 1 - ar, ar)).to(dev);
  const auto b_idx = torch::arange(count, i64.device(dev)).view({count, 1, 1, 1});
  const auto c_idx = torch::arange(3, i64.device(dev)).view({1, 3, 1, 1});
  return padded.index({b_idx, c_idx, rows.view({count, 1, kSide, 1}), cols.view({count, 1, 1, kSide})}).contiguous();
}

}  // namespace rt
