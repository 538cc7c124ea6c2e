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

}  // namespace rt
