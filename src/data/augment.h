// Turns uint8 images into a normalised float batch, with the CIFAR training augmentation fused
// into one pass over the pixels: by default torchvision's RandomCrop(32, padding=4) with zero
// padding, then RandomHorizontalFlip(0.5); also (issue 22, airbench94) another translation,
// reflect padding (torch's 'reflect': the edge pixel is not repeated), and the alternating
// flip of Jordan 2024 (section 3.6: a sample is mirrored in every other epoch, starting from a
// coin of its own). The random choices of a sample depend only on (seed, epoch, sample index),
// so a batch is the same whatever the batch size, rank or resume point.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>

#include "core/config.h"
#include "data/dataset.h"
#include "data/normalization.h"

namespace rt {

// What the training augmentation of 32x32 images does (Config's --augment, --translate,
// --pad-mode, --flip). From a bool: on or off, with the defaults.
struct Augmentation {
  enum class Flip { kRandom, kAlternate, kNone };
  bool enabled = false;
  int pad = 4;           // shifts of up to `pad` pixels each way: a 32x32 crop of the padded image (0..16)
  bool reflect = false;  // pad by reflection instead of with zero pixels
  Flip flip = Flip::kRandom;
  Augmentation(bool on = false) : enabled(on) {}  // NOLINT: a bool is the default augmentation, on or off
};

struct CropFlip {
  int dy = 4, dx = 4;  // crop offset in the image padded by `pad`, each in [0, 2 pad]; pad = centre
  bool flip = false;
};

// The augmentation Config asks for (--augment, --translate, --pad-mode, --flip).
Augmentation augmentation(const Config& cfg);

// The augmentation drawn for one sample (Philox counter-based RNG keyed by the inputs).
CropFlip draw_crop_flip(const Augmentation& aug, uint64_t seed, int64_t epoch, int64_t sample_index);
inline CropFlip draw_crop_flip(uint64_t seed, int64_t epoch, int64_t sample_index) {
  return draw_crop_flip(Augmentation(true), seed, epoch, sample_index);
}

// images: [N, 3, 32, 32] uint8; indices: the B samples to take.
// Returns [B, 3, 32, 32] float32, (pixel/255 - mean)/std, augmented as `aug` says.
torch::Tensor make_batch(const torch::Tensor& images, const int64_t* indices, int64_t count, const Normalization& norm,
                         const Augmentation& aug, uint64_t seed, int64_t epoch);

// `count` images of a data set in memory (on any device), normalised and not augmented, on the
// CPU: [min(count, N), 3, 32, 32] float32, for a model that initialises from the data
// (model/classifier.h). All of them in order when there are no more; else a sample drawn with
// `seed` (in the data set's order: an image folder is ordered by class, so its first images
// would all be of one class).
torch::Tensor sample_images(const Dataset& data, int64_t count, uint64_t seed);

// The device path, for a data set kept in GPU memory: the same batches as make_batch (bitwise,
// on the CPU, where both run), built with tensor operations on the data's device. An epoch's
// sample order and augmentation choices (drawn on the host exactly as make_batch draws them)
// go to the device once, in one copy from pinned memory, with the normalisation constants;
// each batch then takes a slice of them, with no host-to-device copy and no host wait.
class DeviceEpochPlan {
 public:
  // `order`: the epoch's samples in visiting order.
  DeviceEpochPlan(const torch::Device& device, const std::vector<int64_t>& order, const Normalization& norm,
                  const Augmentation& aug, uint64_t seed, int64_t epoch);
  // Positions [begin, begin + count) of the order, as indices into the data set, on the device.
  torch::Tensor indices(int64_t begin, int64_t count) const { return plan_.narrow(0, begin, count).select(1, 0); }
  // The batch of those positions from `images` ([N, 3, 32, 32] uint8 on the device):
  // [count, 3, 32, 32] float32.
  torch::Tensor batch(const torch::Tensor& images, int64_t begin, int64_t count) const;

 private:
  torch::Tensor plan_;  // [n, 4] int64 on the device: sample index, dy, dx, flip
  int64_t pad_ = 0;
  bool reflect_ = false;
  torch::Tensor mean_, std_;  // [1, 3, 1, 1] float32 on the device
};

}  // namespace rt
