// EpochPlan: one rank's share of an epoch, batch by batch: which samples each micro-batch
// holds, which optimiser step it belongs to, and its weight in that step's gradient. Two
// partitions of the epoch (data/sampler.h's seeded permutation in both):
//
// - Per rank (the default, torch.utils.data.DistributedSampler's): the permutation padded to a
//   multiple of the world size and rank-strided; each rank cuts its shard into micro-batches of
//   --batch-size, and --grad-accum of them make a step. What a micro-batch holds depends on
//   the world size.
// - By global batch (--global-batch G; Note [World-size-invariant epochs]): the permutation
//   itself is cut into micro-batches of --batch-size, G / batch-size of them make a step, and
//   the step's micro-batch m goes to rank m mod N. The same samples meet in the same
//   micro-batches, steps and weights whatever N is, so 1, 2 or 4 workers (or a run resized
//   mid-epoch) train alike up to float reduction order.
//
// Note [World-size-invariant epochs]: nothing is padded or dropped: every sample is used once
// per epoch. The last step may hold fewer micro-batches (the last one short); a rank with no
// micro-batch in it gets one empty batch, so that it still takes part in the gradient
// allreduce. A micro-batch's weight is its share of the step's images times N (the gradient
// allreduce averages over the N ranks), so the step's gradient is the mean over its images;
// per rank, it is 1 / the micro-batches in the rank's step, as --grad-accum always did.
#pragma once

#include <cstdint>
#include <vector>

#include "data/sampler.h"

namespace rt {

struct PlannedBatch {
  int64_t step = 0;         // the optimiser step within the epoch (0-based)
  int64_t index = 0;        // this rank's micro-batches in that step: 0-based position ...
  int64_t count = 1;        // ... of this many
  double divisor = 1;       // divides the micro-batch's mean loss (its weight in the step: 1 / divisor)
  int64_t size = 0;         // samples (0: an empty batch, Note [World-size-invariant epochs])
  int64_t micro = 0;        // the micro-batch's number in the step across all ranks (global batch only)
  int64_t step_micros = 1;  // micro-batches in the step across all ranks (global batch only)
  double step_images = 0;   // images planned for the step across all ranks (global batch only; else 0)
};

struct EpochPlan {
  std::vector<int64_t> samples;       // this rank's samples, batch after batch
  std::vector<PlannedBatch> batches;  // in order; sizes add up to samples.size()
  int64_t steps = 0;                  // optimiser steps in the epoch (the same on every rank)
  // The first batch of step `step` (batches.size() past the end).
  int64_t first_batch_of_step(int64_t step) const;
};

struct PlanSpec {
  ShardSpec shard;           // data set size, world size, rank, shuffle, seed
  int64_t batch_size = 1;    // images per micro-batch
  int64_t grad_accum = 1;    // per rank: micro-batches per step on each rank
  int64_t global_batch = 0;  // > 0: partition by global batch (then grad_accum is ignored)
};

// Whether `world_size` workers can share steps of `global_batch` images in micro-batches of
// `batch_size` (the global batch a multiple of batch size x workers).
bool shares_global_batch(int64_t global_batch, int64_t batch_size, int64_t world_size);

// The micro-batches per step on each rank with --global-batch, or a UserError naming what does
// not divide.
int64_t accumulation_for(int64_t global_batch, int64_t batch_size, int64_t world_size);

// This rank's plan of `epoch`.
EpochPlan plan_epoch(const PlanSpec& spec, int64_t epoch);

}  // namespace rt
