#include "train/batchnorm_policy.h"

namespace rt {

BatchNormPolicy decide_batchnorm_policy(bool sync_bn, int64_t global_batch, int world) {
  BatchNormPolicy p;
  p.sync_batch_statistics = sync_bn && world > 1;  // one worker: nothing to sum over
  p.replay_running = global_batch > 0;             // on one worker too: the same order as on many
  p.broadcast_running = !p.sync_batch_statistics;  // synced statistics keep them equal by construction
  return p;
}

std::string BatchNormPolicy::describe() const {
  std::string s = sync_batch_statistics ? "BatchNorm: batch statistics synced over ranks"
                                        : "BatchNorm: batch statistics per micro-batch";
  if (replay_running) s += ", running statistics replayed in the global order";
  if (broadcast_running) s += ", rank 0's running statistics broadcast before evaluations";
  return s;
}

}  // namespace rt
