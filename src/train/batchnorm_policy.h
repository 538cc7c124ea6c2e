// The BatchNorm policy: how the workers' BatchNorm layers stay one model, decided once at
// start-up from --sync-bn, --global-batch and the world size (every rank derives the same one
// from the agreed configuration):
//   - batch statistics in the forward pass: each rank's own micro-batch's, or summed over all
//     ranks (--sync-bn on several workers: model/batchnorm.h, as torch.nn.SyncBatchNorm);
//   - running statistics (what evaluation uses): with --global-batch folded in in the global
//     micro-batch order at each step's end (train/batchnorm_replay.h), the same on any number
//     of workers; without synced batch statistics, rank 0's are broadcast before each
//     evaluation and checkpoint (DDP's broadcast_buffers, done only where they are read).
#pragma once

#include <cstdint>
#include <string>

namespace rt {

struct BatchNormPolicy {
  bool sync_batch_statistics = false;  // summed over ranks in every forward pass
  bool replay_running = false;         // running statistics folded in in the global order
  bool broadcast_running = true;       // rank 0's running statistics before evaluations and checkpoints
  std::string describe() const;        // for the run's first lines
};

BatchNormPolicy decide_batchnorm_policy(bool sync_bn, int64_t global_batch, int world);

}  // namespace rt
