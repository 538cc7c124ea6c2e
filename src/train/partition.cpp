#include "train/partition.h"

#include "core/errors.h"
#include "train/schedule.h"

namespace rt {

Partition decide_partition(int64_t train_images, int world, int rank, int64_t batch_size, int64_t grad_accum,
                           int64_t global_batch, uint64_t seed) {
  Partition p;
  const ShardSpec shard{train_images, world, rank, /*shuffle=*/true, /*drop_last=*/false, seed};
  p.plan = PlanSpec{shard, batch_size, grad_accum, global_batch};
  if (global_batch > 0) {  // Note [World-size-invariant epochs]
    p.accumulation = accumulation_for(global_batch, batch_size, world);
    RT_CHECK_USER(global_batch <= train_images, "--global-batch {} is larger than the {} training images; lower it",
                  global_batch, train_images);
    p.global_batch = global_batch;
  } else {
    RT_CHECK_USER(batch_size <= shard_size(shard),
                  "--batch-size {} is larger than the {} training images of each of the {} workers; lower it",
                  batch_size, shard_size(shard), world);
    p.accumulation = grad_accum;
    p.global_batch = global_batch_size(batch_size, world, grad_accum);
  }
  const EpochPlan first = plan_epoch(p.plan, 0);  // the same number of batches and steps every epoch
  p.micro_per_epoch = static_cast<int64_t>(first.batches.size());
  p.steps_per_epoch = first.steps;
  return p;
}

}  // namespace rt
