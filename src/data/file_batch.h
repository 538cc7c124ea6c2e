// A batch from image files (a streamed Dataset): each sample's file read, decoded, cropped,
// resized (data/image_transforms.h) and normalised into its place in one float tensor. The
// streamed counterpart of make_batch (data/augment.h), called by the loader's threads.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image_transforms.h"

namespace rt {

struct FileBatchSpec {
  bool augment = false;  // training transform (random resized crop + flip), else evaluation's
  uint64_t seed = 0;     // with epoch and sample index, the sample's random choices
  int64_t epoch = 0;
  bool skip_bad = false;    // a file that cannot be read or decoded is left out (and named), not an error
  bool pin_memory = false;  // page-locked output, for non-blocking copies to a GPU
};

struct FileBatch {
  torch::Tensor images;              // [B', 3, S, S] float32, B' = count - skipped
  torch::Tensor labels;              // [B'] int64
  std::vector<std::string> skipped;  // the files left out, with why ("path: reason")
};

FileBatch make_file_batch(const Dataset& data, const int64_t* indices, int64_t count, const FileBatchSpec& spec);

// How a streamed Dataset's samples are transformed: its size and DCT scaling, for training
// (random resized crop + flip) or evaluation (resize + centre crop).
SampleTransform sample_transform(const Dataset& data, bool train);

}  // namespace rt
