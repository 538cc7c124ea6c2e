// BatchNormReplay (--global-batch): BatchNorm's running statistics as one process would have
// them. Each rank keeps the batch statistics of its micro-batches (model/batchnorm.h, deferred)
// instead of folding them in as it goes; at the end of every step all ranks gather them and fold
// them in in the step's micro-batch order (micro-batch m was rank m mod N's (m div N)-th,
// data/epoch_plan.h). So running_mean and running_var are the same on every rank, and the same
// as one worker's, whatever the number of workers. One allreduce per step of 2 floats per
// BatchNorm channel per micro-batch (resnet20: 2.7 KB per micro-batch).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/batchnorm.h"
#include "parallel/communicator.h"

namespace rt {

class BatchNormReplay {
 public:
  // Defers the running statistics of every BatchNorm in `model`. `images_may_be_skipped`
  // (--skip-bad-images): a micro-batch may arrive with no images at all.
  BatchNormReplay(torch::nn::Module& model, Communicator& comm, const torch::Device& device,
                  bool images_may_be_skipped = false);
  // At a step's end, all ranks: the step had `micros` micro-batches over all ranks; `ran[i]`
  // says whether this rank's i-th had images (an empty one ran no forward pass and left no
  // statistics, as on one worker: --skip-bad-images, or a rank with no share of the step).
  void step_done(int64_t micros, const std::vector<bool>& ran);

 private:
  std::vector<BatchNormImpl*> layers_;
  Communicator& comm_;
  torch::Device device_;
  bool images_may_be_skipped_;
  int64_t width_ = 0;  // floats per micro-batch: 2 per channel of every layer, and 1: whether it ran
};

}  // namespace rt
