// The epoch's partition: how every epoch is cut into this rank's micro-batches and the
// optimiser's steps, decided once at start-up from the data size, the world and the batch
// flags (data/epoch_plan.h cuts each epoch by it). Per rank (--batch-size x --grad-accum on
// every worker, DistributedSampler's shards) or by global batch (--global-batch: the same
// micro-batches and steps on any number of workers, Note [World-size-invariant epochs]).
// Every rank derives the same one from the agreed configuration and data sizes.
#pragma once

#include <cstdint>

#include "data/epoch_plan.h"

namespace rt {

struct Partition {
  PlanSpec plan;                // how an epoch is cut (data/epoch_plan.h)
  int64_t accumulation = 1;     // micro-batches per step on each rank
  int64_t micro_per_epoch = 0;  // this rank's micro-batches per epoch
  int64_t steps_per_epoch = 0;  // optimiser steps per epoch (the same on every rank)
  int64_t global_batch = 0;     // images per optimiser step over all ranks
};

// Throws UserError when the batch does not fit the data or the world cannot share the global batch.
Partition decide_partition(int64_t train_images, int world, int rank, int64_t batch_size, int64_t grad_accum,
                           int64_t global_batch, uint64_t seed);

}  // namespace rt
