// The start-up decisions of issue 21, item 1, each on its own: the epoch's partition
// (train/partition.h) and the BatchNorm policy (train/batchnorm_policy.h). (The resume point:
// test_resume_point.cpp.)
#include <gtest/gtest.h>

#include "core/errors.h"
#include "train/batchnorm_policy.h"
#include "train/partition.h"

namespace rt {

TEST(Partition, PerRankIsEachWorkersBatchTimesAccumulation) {
  // 100 images over 2 workers: 50 each, in micro-batches of 10, 2 per step.
  const Partition p = decide_partition(100, 2, 1, 10, 2, 0, 7);
  EXPECT_EQ(p.accumulation, 2);
  EXPECT_EQ(p.micro_per_epoch, 5);
  EXPECT_EQ(p.steps_per_epoch, 3);  // the last step has one micro-batch
  EXPECT_EQ(p.global_batch, 40);
  EXPECT_EQ(p.plan.shard.world_size, 2);
  EXPECT_EQ(p.plan.shard.rank, 1);
}

TEST(Partition, AGlobalBatchHasTheSameStepsOnAnyWorldSize) {
  for (const int world : {1, 2, 4}) {
    const Partition p = decide_partition(100, world, 0, 10, 1, 40, 7);
    EXPECT_EQ(p.global_batch, 40) << world;
    EXPECT_EQ(p.steps_per_epoch, 3) << world;
    EXPECT_EQ(p.accumulation, 4 / world) << world;
  }
}

TEST(Partition, WhatCannotBeCutIsRefused) {
  EXPECT_THROW(decide_partition(100, 2, 0, 60, 1, 0, 7), UserError);    // 60 > the 50 images of each worker
  EXPECT_THROW(decide_partition(100, 2, 0, 10, 1, 200, 7), UserError);  // global batch > the data
  EXPECT_THROW(decide_partition(100, 4, 0, 10, 1, 60, 7), UserError);   // 60 is no multiple of 10 x 4
}

TEST(BatchNormPolicy, EachCombinationOfFlagsAndWorldSize) {
  struct Case {
    bool sync_bn;
    int64_t global_batch;
    int world;
    bool sync, replay, broadcast;
  };
  const Case cases[] = {
      {false, 0, 1, false, false, true},  // one worker: its own (the broadcast is a no-op there)
      {true, 0, 1, false, false, true},   // --sync-bn on one worker: nothing to sum over
      {false, 0, 2, false, false, true},  // DDP's default: rank 0's running statistics
      {true, 0, 2, true, false, false},   // synced: equal by construction
      {false, 64, 2, false, true, true},  // --global-batch: replayed in the global order
      {false, 64, 1, false, true, true},  // ... on one worker too, the same order
      {true, 64, 4, true, true, false},
  };
  for (const auto& c : cases) {
    const BatchNormPolicy p = decide_batchnorm_policy(c.sync_bn, c.global_batch, c.world);
    const std::string name = p.describe();
    EXPECT_EQ(p.sync_batch_statistics, c.sync) << name;
    EXPECT_EQ(p.replay_running, c.replay) << name;
    EXPECT_EQ(p.broadcast_running, c.broadcast) << name;
  }
}

}  // namespace rt
