// The torchvision transforms of ImageNet-style training, on decoded RGB images of any size:
// RandomResizedCrop(S, scale, ratio) + RandomHorizontalFlip for training, Resize(S / 0.875) +
// CenterCrop(S) for evaluation, then ToTensor + Normalize, written into one sample of a float
// batch. The resize is ATen's antialiased bilinear (the kernel torchvision's own resize calls
// on uint8 tensors), so that a crop equals torchvision.transforms.v2.functional's, pixel for
// pixel; the random choices of a sample depend only on (seed, epoch, sample index).
#pragma once

#include <ATen/core/PhiloxRNGEngine.h>
#include <torch/torch.h>

#include <array>
#include <cstdint>

#include "data/image_decode.h"
#include "data/normalization.h"

namespace rt {

// RandomResizedCrop's ranges: the crop's share of the image's area and its aspect ratio w/h.
struct ResizedCropRange {
  double scale_lo = 0.08, scale_hi = 1.0;
  double ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
};

// The source of a sample's random numbers (Philox keyed by seed and epoch, the sample index
// its subsequence): uniform in [0, 1) and integers in [0, n).
class SampleRandom {
 public:
  SampleRandom(uint64_t seed, int64_t epoch, int64_t sample_index);
  double uniform() { return engine_() * (1.0 / 4294967296.0); }
  int below(int n) { return static_cast<int>(engine_() % static_cast<uint32_t>(n)); }

 private:
  at::Philox4_32 engine_;
};

// torchvision's RandomResizedCrop.get_params: up to 10 tries of a random area share and
// log-uniform aspect ratio that fit the image, else the whole image clipped to the ratio range,
// centred. Rounds as Python's round() does (half to even).
CropBox random_resized_crop_box(int width, int height, const ResizedCropRange& range, SampleRandom& random);

// The image's size after Resize(short_side) (shorter side to short_side, the longer one
// int(short_side * long / short), as torchvision computes it): {height, width}.
std::array<int, 2> resized_size(int width, int height, int short_side);

// CenterCrop(size) of a height x width image (torchvision: offsets int(round((h - size) / 2))).
CropBox center_crop_box(int width, int height, int size);

// The evaluation resize's shorter side for output size S: int(S / 0.875) (256 for 224).
int eval_resize_side(int image_size);

// `box` of `rgb` ([h, w, 3] uint8) resized to out_h x out_w with antialiased bilinear: [out_h,
// out_w, 3] uint8 (torchvision's resized_crop on the image as a uint8 tensor).
torch::Tensor resized_crop(const torch::Tensor& rgb, const CropBox& box, int out_h, int out_w);

// Writes `rgb` ([S, S, 3] uint8, any strides) into `out` ([3, S, S] float32, contiguous):
// normalised, mirrored left-right when `flip`.
void write_normalized(const torch::Tensor& rgb, bool flip, const Normalization& norm, float* out);

// One sample of a batch from the decoded file, as the loader builds it (image_size S):
// training: a random resized crop + flip drawn from `random`; evaluation: resize (to
// eval_resize, else int(S / 0.875)) + centre crop.
// A JPEG is decoded at the smallest DCT scale that keeps the crop at least S pixels (see
// reduced_scale) unless `exact`, the full-size path that equals torchvision's pixels.
struct SampleTransform {
  int image_size = 224;
  bool train = true;
  bool exact = false;
  int eval_resize = 0;  // evaluation's Resize side; 0: eval_resize_side(image_size)
  ResizedCropRange range;
};
void transform_image_file(const std::string& path, const std::vector<unsigned char>& bytes, const SampleTransform& t,
                          SampleRandom& random, const Normalization& norm, float* out);
// The same of pixels already decoded (`rgb`, [h, w, 3] uint8: a raw image cache entry, whose
// `path` the messages name), with the same random choices for the same (seed, epoch, sample).
void transform_image_pixels(const std::string& path, const torch::Tensor& rgb, const SampleTransform& t,
                            SampleRandom& random, const Normalization& norm, float* out);

}  // namespace rt
