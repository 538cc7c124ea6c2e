// An image classification split, either held in memory as 32x32 pixels (the whole of CIFAR-10
// is 184 MB as uint8) or streamed from image files of any size; the on-disk formats it is read
// from; how its samples become model inputs; class-balanced subsets for quick runs.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/image_cache.h"
#include "data/normalization.h"

namespace rt {

struct Dataset {
  torch::Tensor images;  // in memory: [N, 3, 32, 32] uint8, channel-planar (as CIFAR stores it)
  // Streamed: one image file per sample (decoded, cropped and resized by the loader's threads);
  // null for a data set in memory.
  std::shared_ptr<const std::vector<std::string>> files;
  torch::Tensor labels;                  // [N] int64, each in [0, class_names.size())
  std::vector<std::string> class_names;  // index = label
  int64_t image_size = 32;               // the side of a model input
  Normalization norm;                    // the per-channel statistics inputs are normalised with
  bool dct_scaling = true;               // streamed JPEGs: decode at 1/2..1/8 scale where the crop allows
  // Streamed evaluation: Resize(eval_resize) (the shorter side) then CenterCrop(image_size); 0 is
  // torchvision's ImageNet evaluation, int(image_size / 0.875).
  int64_t eval_resize = 0;
  // Streamed: the resized-image cache its files are read through (--cache-dir), or null.
  std::shared_ptr<const ImageCache> cache;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(class_names.size()); }
  bool streamed() const { return files != nullptr; }
  bool on_device() const { return images.defined() && !images.is_cpu(); }  // kept in GPU memory
};

struct DataSplits {
  Dataset train;
  Dataset test;  // the image folder's val/ or test/
  // "cifar10-binary", "cifar100-binary", "cifar10-python", "cifar100-python", "image-folder" (32x32,
  // in memory), "image-files"
  std::string format;
  std::string root;  // the folder the splits were read from
  // Image files left out of the splits while loading (--skip-bad-images: named as images but not
  // files, or not decodable into memory), "path: why"; each is named in a warning and counted in
  // metrics.json's skipped_images. Streamed files stay in the split and are left out (and
  // counted) in each epoch that reads them.
  std::vector<std::string> skipped;
};

// What the run asks of the data (Config's --image-size, --normalize, --mean, --std).
struct DataRequest {
  int64_t image_size = 0;             // model input side; 0 = the data's own (32, or 224 for larger images)
  std::string normalize = "auto";     // auto | cifar10 | imagenet | computed
  std::string mean, std;              // "r,g,b": override the statistics
  uint64_t seed = 0;                  // which training images `computed` measures
  bool dct_scaling = true;            // false: decode every JPEG at full size (torchvision's pixels exactly)
  bool skip_bad_images = false;       // leave out image files that cannot be read (DataSplits::skipped)
  std::string cache_dir = "";         // streamed image files: the resized-image cache's folder ("" none)
  int64_t max_side = 512;             // its images' longer side at most
  std::string cache_format = "jpeg";  // jpeg | raw
};

// The ten CIFAR-10 classes in label order 0..9.
const std::vector<std::string>& cifar10_class_names();

// The request a run's options make (--image-size, --normalize, --mean, --std, --seed, --dct-scaling,
// --skip-bad-images).
DataRequest data_request(const Config& cfg);

// Reads the data set in `dir`, detecting the layout:
//  - CIFAR-10 binary: data_batch_1..5.bin + test_batch.bin (+ optional batches.meta.txt), in
//    `dir` or in `dir`/cifar-10-batches-bin (the official archive unpacked into `dir`);
//  - CIFAR-100 binary: train.bin + test.bin (+ optional fine_label_names.txt), in `dir` or in
//    `dir`/cifar-100-binary;
//  - CIFAR-10 python version (what torchvision's CIFAR10(download=True) leaves): data_batch_1..5
//    + test_batch (+ optional batches.meta), in `dir` or in `dir`/cifar-10-batches-py;
//  - CIFAR-100 python version: train + test files (+ optional meta), in `dir` or in
//    `dir`/cifar-100-python;
//  - image folder: `dir`/train/<class>/*.jpg|*.jpeg|*.png and `dir`/val/<class>/... (or test/).
//    32x32 images (and no other --image-size) are decoded once into memory; images of other
//    sizes are streamed from their files at request.image_size (default 224).
// Then sets each split's image_size and normalisation from `request`. Throws UserError naming
// the file and the problem for anything missing or malformed; with request.skip_bad_images, an
// image file that cannot be read is left out instead, named in a warning and in `skipped`.
DataSplits load_splits(const std::string& dir, const DataRequest& request = {});

// The readers behind load_splits, for callers that know the layout.
DataSplits read_cifar10_binary(const std::string& dir);
DataSplits read_cifar100_binary(const std::string& dir);
DataSplits read_cifar10_python(const std::string& dir);
DataSplits read_cifar100_python(const std::string& dir);
// 32x32 images (its first readable training image, in index order, says) are decoded into
// memory when `allow_in_memory`; otherwise only the files are indexed, to be streamed. With
// `skip_bad`, image files that cannot be read there are left out (DataSplits::skipped).
DataSplits read_image_folder(const std::string& dir, bool allow_in_memory, bool skip_bad = false);

// A class-balanced subset of `n` samples: n / C of each class (the first classes take one
// more when C does not divide n), chosen by a seeded permutation, kept in original order.
// n == 0 or n >= size returns the whole split.
Dataset balanced_subset(const Dataset& data, int64_t n, uint64_t seed);

}  // namespace rt
