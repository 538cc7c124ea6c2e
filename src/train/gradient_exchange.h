// The gradient exchange: how each step's gradients become their average on every rank, decided
// once at start-up from the configuration and the resumed checkpoint:
//   - buckets of at most --bucket-mb, reduced while backward runs (parallel/grad_sync.h);
//   - the compression (--grad-compression, --powersgd-warmup, PowerSGD's random draws from --seed);
//   - the compressor's state: a resumed run continues it. On the world size that saved it each
//     rank takes its own error feedback; on another, every rank starts from the saved ranks'
//     mean (the gradient the average has not yet received keeps its mean). On one worker
//     nothing is compressed: the state is carried on unchanged into its checkpoints, for a
//     later run on more workers (2 -> 1 -> 2 workers does not redo PowerSGD's warm-up).
// Every rank agrees on it because every rank takes it from the same configuration and the same
// checkpoint (both checked at start-up, train/run.cpp).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/config.h"
#include "parallel/communicator.h"
#include "parallel/grad_sync.h"

namespace rt {

class GradientExchange {
 public:
  // All ranks. `params` in registration order; `resumed` is the checkpoint's state (empty for a
  // fresh run), on any device.
  GradientExchange(const std::vector<torch::Tensor>& params, Communicator& comm, const Config& cfg,
                   SavedCompression resumed);
  GradientSync& sync() { return *sync_; }
  // All ranks (a collective when there is state): the state a checkpoint records, complete on
  // rank 0 only.
  SavedCompression checkpoint_state();

 private:
  std::unique_ptr<GradientSync> sync_;
  int64_t world_;
  SavedCompression carried_;  // one worker: the resumed state, kept as it was
};

}  // namespace rt
