// Running sums of one epoch's training, kept on the device so that the loop does not
// synchronise with it every step; summed over ranks at the end of the epoch (and at a
// mid-epoch checkpoint). A batch whose loss is not finite (a step skipped with
// --skip-nonfinite) is left out of them, decided on the device as well.
#pragma once

#include <torch/torch.h>

#include <utility>

#include "checkpoint/run_state.h"
#include "parallel/communicator.h"

namespace rt {

class EpochStats {
 public:
  // Sums on `device`, over the ranks of `comm`.
  EpochStats(Communicator& comm, const torch::Device& device) : comm_(comm), device_(device) {}
  // After a micro-batch: its mean loss ([] float32) and logits [B, C] against labels [B] (on any
  // device), and the image files left out of it as unreadable (--skip-bad-images).
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels, int64_t skipped = 0);
  // Continues an epoch from a checkpoint's sums over all ranks (given to rank 0 only).
  void restore(const EpochSums& partial);
  // {mean loss, accuracy} of this rank's epoch so far (reads the device).
  std::pair<double, double> means() const;
  // The sums over all ranks (a collective: every rank calls it); `seconds` is left 0.
  EpochSums across_ranks() const;
  // Images trained on by all ranks since the epoch (or its resumption) began, counted as this
  // rank's x the world size: for throughput on the progress line.
  int64_t images() const { return images_ * comm_.world_size(); }

 private:
  Communicator& comm_;
  torch::Device device_;
  torch::Tensor sums_;   // [3] float64 on the device: loss x images, correct, images counted
  int64_t skipped_ = 0;  // this rank's skipped images (with a restored epoch's, on rank 0)
  int64_t images_ = 0;
};

}  // namespace rt
