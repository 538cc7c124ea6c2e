// Turns uint8 images into a normalised float batch, with the CIFAR training augmentation
// (RandomCrop(32, padding=4) with zero padding, then RandomHorizontalFlip(0.5)), fused into
// one pass over the pixels. The random choices of a sample depend only on (seed, epoch,
// sample index), so a batch is the same whatever the batch size, rank or resume point.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>

#include "data/dataset.h"
#include "data/normalization.h"

namespace rt {

struct CropFlip {
  int dy = 4, dx = 4;  // crop offset in the 40x40 padded image, each in [0, 8]; 4 = centre
  bool flip = false;
};

// The augmentation drawn for one sample (Philox counter-based RNG keyed by the inputs).
CropFlip draw_crop_flip(uint64_t seed, int64_t epoch, int64_t sample_index);

// images: [N, 3, 32, 32] uint8; indices: the B samples to take.
// Returns [B, 3, 32, 32] float32, (pixel/255 - mean)/std, augmented when `augment`.
torch::Tensor make_batch(const torch::Tensor& images, const int64_t* indices, int64_t count, const Normalization& norm,
                         bool augment, uint64_t seed, int64_t epoch);

// The first `count` images of a data set in memory (on any device), normalised and not
// augmented, on the CPU: [min(count, N), 3, 32, 32] float32 (a model that initialises from the
// data, model/classifier.h).
torch::Tensor first_images(const Dataset& data, int64_t count);

// The device path, for a data set kept in GPU memory: the same batches as make_batch (bitwise,
// on the CPU, where both run), built with tensor operations on the data's device. An epoch's
// sample order and augmentation choices (drawn on the host exactly as make_batch draws them)
// go to the device once, in one copy from pinned memory, with the normalisation constants;
// each batch then takes a slice of them, with no host-to-device copy and no host wait.
class DeviceEpochPlan {
 public:
  // `order`: the epoch's samples in visiting order.
  DeviceEpochPlan(const torch::Device& device, const std::vector<int64_t>& order, const Normalization& norm,
                  bool augment, uint64_t seed, int64_t epoch);
  // Positions [begin, begin + count) of the order, as indices into the data set, on the device.
  torch::Tensor indices(int64_t begin, int64_t count) const { return plan_.narrow(0, begin, count).select(1, 0); }
  // The batch of those positions from `images` ([N, 3, 32, 32] uint8 on the device):
  // [count, 3, 32, 32] float32.
  torch::Tensor batch(const torch::Tensor& images, int64_t begin, int64_t count) const;

 private:
  torch::Tensor plan_;        // [n, 4] int64 on the device: sample index, dy, dx, flip
  torch::Tensor mean_, std_;  // [1, 3, 1, 1] float32 on the device
};

}  // namespace rt
