// An in-memory image classification split (the whole of CIFAR-10 is 184 MB as uint8), the
// two on-disk formats it is read from, and class-balanced subsets for quick runs.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace rt {

struct Dataset {
  torch::Tensor images;                  // [N, 3, 32, 32] uint8, channel-planar (as CIFAR stores it)
  torch::Tensor labels;                  // [N] int64, each in [0, class_names.size())
  std::vector<std::string> class_names;  // index = label
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
};

struct DataSplits {
  Dataset train;
  Dataset test;
  std::string format;  // "cifar10-binary" or "image-folder"
  std::string root;    // the folder the splits were read from
};

// The ten CIFAR-10 classes in label order 0..9.
const std::vector<std::string>& cifar10_class_names();

// Reads CIFAR-10 from `dir`, detecting the layout:
//  - binary: data_batch_1..5.bin + test_batch.bin (+ optional batches.meta.txt), in `dir` or
//    in `dir`/cifar-10-batches-bin (the official archive unpacked into `dir`);
//  - image folder: `dir`/train/<class>/*.jpg|*.jpeg|*.png and `dir`/test/<class>/...
// Throws UserError naming the file and the problem for anything missing or malformed.
DataSplits load_cifar10(const std::string& dir);

// The two readers behind load_cifar10, for callers that know the layout.
DataSplits read_cifar10_binary(const std::string& dir);
DataSplits read_image_folder(const std::string& dir);

// A class-balanced subset of `n` samples: n / C of each class (the first classes take one
// more when C does not divide n), chosen by a seeded permutation, kept in original order.
// n == 0 or n >= size returns the whole split.
Dataset balanced_subset(const Dataset& data, int64_t n, uint64_t seed);

}  // namespace rt
