// Learning-rate schedules as pure functions of the optimiser step, so that the scheduler's
// whole state is the step count (exact resume needs nothing else).
//   multistep: lr * gamma^(milestones passed), per epoch as torch's MultiStepLR stepped per epoch
//   cosine:    torch's CosineAnnealingLR(T_max = steps after warmup, eta_min 0), per step
//   onecycle:  torch's OneCycleLR defaults (cos, pct_start 0.3, div 25, final_div 1e4), per step
//   constant:  lr
// Linear warmup (all but onecycle): for the first warmup steps lr * (step + 1) / warmup_steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rt {

struct ScheduleSpec {
  std::string kind = "multistep";
  double lr = 0.1;
  std::vector<int64_t> milestones = {5, 8};
  double gamma = 0.1;
  double warmup_epochs = 0;
  int64_t epochs = 10;
  int64_t steps_per_epoch = 1;
};

// The learning rate for optimiser step `step` (0-based, counted over the whole run).
double lr_at_step(const ScheduleSpec& s, int64_t step);

// Images per optimiser step over all ranks: per worker and micro-batch, x workers x micro-batches.
int64_t global_batch_size(int64_t batch_per_worker, int64_t world_size, int64_t grad_accum);

// The peak learning rate of a run: `lr` is for `lr_ref_batch` images per step, scaled linearly
// to the global batch (Goyal et al. 2017), never to the per-worker batch.
double scaled_learning_rate(double lr, int64_t global_batch, int64_t lr_ref_batch);

}  // namespace rt
