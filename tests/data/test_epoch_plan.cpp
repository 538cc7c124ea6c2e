// EpochPlan against the definitions in data/epoch_plan.h, worked by hand and by invariants.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>

#include "core/errors.h"
#include "data/epoch_plan.h"

namespace rt {
namespace {

PlanSpec global_spec(int64_t n, int64_t world, int64_t rank, int64_t batch, int64_t global) {
  return PlanSpec{ShardSpec{n, world, rank, /*shuffle=*/true, /*drop_last=*/false, 7}, batch, 1, global};
}

// step -> micro-batch number in the step -> samples, over all ranks.
using Steps = std::map<int64_t, std::map<int64_t, std::vector<int64_t>>>;

Steps all_ranks(int64_t n, int64_t world, int64_t batch, int64_t global, int64_t epoch) {
  Steps steps;
  for (int64_t r = 0; r < world; ++r) {
    const EpochPlan p = plan_epoch(global_spec(n, world, r, batch, global), epoch);
    size_t at = 0;
    for (const auto& b : p.batches) {
      if (b.size == 0) continue;
      steps[b.step][b.micro] = std::vector<int64_t>(p.samples.begin() + static_cast<int64_t>(at),
                                                    p.samples.begin() + static_cast<int64_t>(at + b.size));
      at += static_cast<size_t>(b.size);
    }
    EXPECT_EQ(at, p.samples.size());
  }
  return steps;
}

TEST(EpochPlan, GlobalBatchesHoldTheSameMicroBatchesOnAnyWorldSize) {
  // 100 samples = 3 steps of 32 images (4 micro-batches of 8) and a last step of 4 images.
  const Steps one = all_ranks(100, 1, 8, 32, 3);
  EXPECT_EQ(one.size(), 4u);
  for (const int64_t world : {2, 4}) EXPECT_EQ(all_ranks(100, world, 8, 32, 3), one) << world;
  // Every sample exactly once per epoch; another epoch, another order.
  std::vector<int64_t> seen;
  for (const auto& [step, micros] : one)
    for (const auto& [m, samples] : micros) seen.insert(seen.end(), samples.begin(), samples.end());
  std::vector<int64_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(100);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);
  EXPECT_NE(all_ranks(100, 1, 8, 32, 4), one);
}

TEST(EpochPlan, WeightsMakeTheStepMeanOverItsImages) {
  // 2 ranks, G = 32, b = 8: a full step is 2 micro-batches per rank, divisor 2 each (32 / (8 x 2)).
  const EpochPlan r0 = plan_epoch(global_spec(100, 2, 0, 8, 32), 0);
  const EpochPlan r1 = plan_epoch(global_spec(100, 2, 1, 8, 32), 0);
  EXPECT_EQ(r0.steps, 4);
  EXPECT_EQ(r1.steps, 4);
  EXPECT_EQ(r0.batches[0].count, 2);
  EXPECT_DOUBLE_EQ(r0.batches[0].divisor, 2.0);
  // The last step holds 4 images in one micro-batch: rank 0 has it (divisor 4 / (4 x 2) = 0.5,
  // so after the average over 2 ranks its weight is 1); rank 1 gets one empty batch.
  EXPECT_EQ(r0.batches.back().step, 3);
  EXPECT_EQ(r0.batches.back().size, 4);
  EXPECT_DOUBLE_EQ(r0.batches.back().divisor, 0.5);
  EXPECT_EQ(r1.batches.back().step, 3);
  EXPECT_EQ(r1.batches.back().size, 0);
  EXPECT_EQ(r1.batches.back().count, 1);
  // Resuming at step 2 starts at each rank's first batch of it.
  EXPECT_EQ(r0.first_batch_of_step(2), 4);
  EXPECT_EQ(r0.first_batch_of_step(4), static_cast<int64_t>(r0.batches.size()));
}

TEST(EpochPlan, ALoneLastSampleJoinsTheMicroBatchBeforeIt) {
  // 17 samples in micro-batches of 8: 8 and 9, never a micro-batch of one (BatchNorm).
  const EpochPlan p = plan_epoch(global_spec(17, 1, 0, 8, 16), 0);
  ASSERT_EQ(p.batches.size(), 2u);
  EXPECT_EQ(p.batches[1].size, 9);
  EXPECT_DOUBLE_EQ(p.batches[1].divisor, 17.0 / 9);
}

TEST(EpochPlan, PerRankIsTheDistributedSamplerCutIntoMicroBatches) {
  // 10 samples on 3 ranks: 4 each (padded by wrapping), --grad-accum 3 over micro-batches of 2
  // (the last step has 1 micro-batch, divided by 1).
  const PlanSpec s{ShardSpec{10, 3, 1, true, false, 7}, 2, 3, 0};
  const EpochPlan p = plan_epoch(s, 0);
  EXPECT_EQ(p.samples, epoch_shard(s.shard, 0));
  ASSERT_EQ(p.batches.size(), 2u);
  EXPECT_EQ(p.steps, 1);
  EXPECT_EQ(p.batches[1].count, 2);
  EXPECT_DOUBLE_EQ(p.batches[1].divisor, 2.0);
  // A shard of 5 in batches of 2 drops the last lone sample, as the trainer always has.
  const EpochPlan q = plan_epoch(PlanSpec{ShardSpec{5, 1, 0, true, false, 7}, 2, 1, 0}, 0);
  EXPECT_EQ(q.samples.size(), 4u);
  EXPECT_EQ(q.batches.size(), 2u);
}

TEST(EpochPlan, AGlobalBatchThatDoesNotDivideIsRefused) {
  EXPECT_THROW(accumulation_for(32, 8, 3), UserError);
  EXPECT_EQ(accumulation_for(32, 8, 2), 2);
  EXPECT_EQ(accumulation_for(32, 8, 4), 1);
  EXPECT_THROW(plan_epoch(global_spec(100, 3, 0, 8, 32), 0), UserError);
}

}  // namespace
}  // namespace rt
