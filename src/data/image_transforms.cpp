#include "data/image_transforms.h"

#include <ATen/ops/_upsample_bilinear2d_aa.h>

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/seed.h"

namespace rt {

SampleRandom::SampleRandom(uint64_t seed, int64_t epoch, int64_t sample_index)
    : engine_(derive_seed(seed, SeedPurpose::kAugment, static_cast<uint64_t>(epoch)),
              /*subsequence=*/static_cast<uint64_t>(sample_index)) {}

namespace {
// Python's int(round(x)) for x >= 0: halves go to the even neighbour.
int round_half_even(double x) { return static_cast<int>(std::nearbyint(x)); }
}  // namespace

CropBox random_resized_crop_box(int width, int height, const ResizedCropRange& range, SampleRandom& random) {
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(range.ratio_lo), log_hi = std::log(range.ratio_hi);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * (range.scale_lo + (range.scale_hi - range.scale_lo) * random.uniform());
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * random.uniform());
    const int w = round_half_even(std::sqrt(target_area * aspect));
    const int h = round_half_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      CropBox box;
      box.height = h;
      box.width = w;
      box.top = random.below(height - h + 1);
      box.left = random.below(width - w + 1);
      return box;
    }
  }
  // Fallback: the whole image, clipped to the ratio range, centred.
  const double in_ratio = static_cast<double>(width) / height;
  CropBox box{0, 0, height, width};
  if (in_ratio < range.ratio_lo) {
    box.height = round_half_even(width / range.ratio_lo);
  } else if (in_ratio > range.ratio_hi) {
    box.width = round_half_even(height * range.ratio_hi);
  }
  box.top = (height - box.height) / 2;
  box.left = (width - box.width) / 2;
  return box;
}

std::array<int, 2> resized_size(int width, int height, int short_side) {
  const int short_in = std::min(width, height), long_in = std::max(width, height);
  const int long_out = static_cast<int>(static_cast<double>(short_side) * long_in / short_in);
  return width <= height ? std::array<int, 2>{long_out, short_side} : std::array<int, 2>{short_side, long_out};
}

CropBox center_crop_box(int width, int height, int size) {
  return CropBox{round_half_even((height - size) / 2.0), round_half_even((width - size) / 2.0), size, size};
}

int eval_resize_side(int image_size) { return static_cast<int>(image_size / 0.875); }

torch::Tensor resized_crop(const torch::Tensor& rgb, const CropBox& box, int out_h, int out_w) {
  auto crop = rgb.narrow(0, box.top, box.height).narrow(1, box.left, box.width);
  if (box.height == out_h && box.width == out_w) return crop;
  // [1, 3, h, w] as a view of the interleaved pixels (channels-last strides): ATen's uint8
  // antialiased kernel reads that layout directly.
  const auto nchw = crop.permute({2, 0, 1}).unsqueeze(0);
  const std::array<int64_t, 2> size{out_h, out_w};
  const auto out = at::_upsample_bilinear2d_aa(nchw, size, /*align_corners=*/false);
  return out.squeeze(0).permute({1, 2, 0});
}

void write_normalized(const torch::Tensor& rgb, bool flip, const Normalization& norm, float* out) {
  const int64_t h = rgb.size(0), w = rgb.size(1);
  const int64_t sy = rgb.stride(0), sx = rgb.stride(1), sc = rgb.stride(2);
  const uint8_t* src = rgb.data_ptr<uint8_t>();
  for (int c = 0; c < 3; ++c) {
    float lut[256];
    channel_lut(norm, c, lut);
    float* plane = out + c * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const uint8_t* row = src + y * sy + c * sc;
      float* dst = plane + y * w;
      if (flip) {
        for (int64_t x = 0; x < w; ++x) dst[x] = lut[row[(w - 1 - x) * sx]];
      } else {
        for (int64_t x = 0; x < w; ++x) dst[x] = lut[row[x * sx]];
      }
    }
  }
}

namespace {
// `box` (in full-size pixels) in an image decoded at scale eighths/8 of size w x h.
CropBox scale_box(const CropBox& box, int eighths, int w, int h) {
  if (eighths == 8) return box;
  // Both edges to the nearest scaled pixel edge: the crop moves by at most half a scaled pixel.
  const double s = eighths / 8.0;
  CropBox b;
  b.top = std::min(static_cast<int>(std::lround(box.top * s)), h - 1);
  b.left = std::min(static_cast<int>(std::lround(box.left * s)), w - 1);
  b.height = std::clamp(static_cast<int>(std::lround((box.top + box.height) * s)) - b.top, 1, h - b.top);
  b.width = std::clamp(static_cast<int>(std::lround((box.left + box.width) * s)) - b.left, 1, w - b.left);
  return b;
}

// The transform of an image of info.width x info.height whose pixels decode(eighths, region)
// gives (region: std::nullopt for the whole image): the one body of transform_image_file and
// transform_image_pixels. `scalable`: a JPEG that may be decoded at a reduced DCT scale.
template <class Decode>
void transform_image(const std::string& path, const ImageInfo& info, bool scalable, const SampleTransform& t,
                     SampleRandom& random, const Normalization& norm, float* out, const Decode& decode) {
  const int S = t.image_size;
  if (t.train) {
    const CropBox box = random_resized_crop_box(info.width, info.height, t.range, random);
    const bool flip = random.below(2) == 1;
    const int eighths = scalable ? reduced_scale(info, box.width, box.height, S, S) : 8;
    // Only the crop's region is decoded (image_decode.h); it is then resized whole.
    const CropBox region = scale_box(box, eighths, scaled_size(info.width, eighths), scaled_size(info.height, eighths));
    const torch::Tensor rgb = decode(eighths, std::optional<CropBox>(region));
    write_normalized(resized_crop(rgb, CropBox{0, 0, region.height, region.width}, S, S), flip, norm, out);
    return;
  }
  // Evaluation: Resize(int(S / 0.875)) (or eval_resize) of the whole image, then CenterCrop(S).
  const auto [rh, rw] = resized_size(info.width, info.height, t.eval_resize > 0 ? t.eval_resize : eval_resize_side(S));
  RT_CHECK_USER(static_cast<int64_t>(rh) * rw * 3 <= kMaxImageBytes,
                "{}: a {}x{} image would be resized to {}x{} for evaluation, more than the {} MiB of pixels decoded "
                "per image; crop or remove it",
                path, info.width, info.height, rw, rh, kMaxImageBytes >> 20);
  const int eighths = scalable ? reduced_scale(info, info.width, info.height, rw, rh) : 8;
  const torch::Tensor rgb = decode(eighths, std::optional<CropBox>());
  const CropBox whole{0, 0, static_cast<int>(rgb.size(0)), static_cast<int>(rgb.size(1))};
  const auto resized = resized_crop(rgb, whole, rh, rw);
  const CropBox c = center_crop_box(rw, rh, S);
  write_normalized(resized.narrow(0, c.top, c.height).narrow(1, c.left, c.width), false, norm, out);
}
}  // namespace

void transform_image_file(const std::string& path, const std::vector<unsigned char>& bytes, const SampleTransform& t,
                          SampleRandom& random, const Normalization& norm, float* out) {
  const ImageInfo info = probe_image(path, bytes);
  transform_image(path, info, !t.exact, t, random, norm, out, [&](int eighths, const std::optional<CropBox>& region) {
    return decode_rgb(path, bytes, info, eighths, region);
  });
}

void transform_image_pixels(const std::string& path, const torch::Tensor& rgb, const SampleTransform& t,
                            SampleRandom& random, const Normalization& norm, float* out) {
  const ImageInfo info{static_cast<int>(rgb.size(1)), static_cast<int>(rgb.size(0)), ImageFormat::kPng};
  transform_image(path, info, /*scalable=*/false, t, random, norm, out, [&](int, const std::optional<CropBox>& r) {
    return r ? rgb.narrow(0, r->top, r->height).narrow(1, r->left, r->width) : rgb;
  });
}

}  // namespace rt
