// The start-up decisions of issue 21, item 1, each on its own: the epoch's partition
// (train/partition.h), the BatchNorm policy (train/batchnorm_policy.h) and the gradient
// exchange's compressor state (train/gradient_exchange.h). (The resume point:
// test_resume_point.cpp.)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

#include "core/errors.h"
#include "parallel/ranks.h"
#include "train/batchnorm_policy.h"
#include "train/gradient_exchange.h"
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

// --- the gradient exchange: PowerSGD's state from a checkpoint saved by 3 ranks, its step count
// shared and each rank's error feedback 1, 4 and 7 (one bucket of all parameters).
namespace {

std::vector<torch::Tensor> exchange_params() {
  return {torch::zeros({16, 8, 3, 3}, torch::requires_grad()), torch::zeros({16}, torch::requires_grad()),
          torch::zeros({10, 64}, torch::requires_grad())};
}

SavedCompression saved_by_three_ranks(int64_t numel) {
  SavedCompression s;
  s.world = 3;
  s.tensors.emplace_back("powersgd/steps", torch::tensor({int64_t{7}}, torch::kInt64));
  for (int r = 0; r < 3; ++r)
    s.tensors.emplace_back(fmt::format("rank{}/powersgd/bucket0/error", r), torch::full({numel}, 1.0f + 3.0f * r));
  return s;
}

Config powersgd_config() {
  Config cfg;
  cfg.grad_compression = "powersgd:2";
  cfg.bucket_mb = 1024;  // one bucket
  return cfg;
}

int64_t numel_of(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

}  // namespace

TEST(GradientExchange, OneWorkerCarriesTheResumedStateOnUnchanged) {
  test::run_ranks(1, [](int, Communicator& comm) {
    const auto params = exchange_params();
    const SavedCompression saved = saved_by_three_ranks(numel_of(params));
    GradientExchange exchange(params, comm, powersgd_config(), saved);
    const SavedCompression kept = exchange.checkpoint_state();
    EXPECT_EQ(kept.world, 3);
    ASSERT_EQ(kept.tensors.size(), saved.tensors.size());
    for (size_t i = 0; i < kept.tensors.size(); ++i) {
      EXPECT_EQ(kept.tensors[i].first, saved.tensors[i].first);
      EXPECT_TRUE(torch::equal(kept.tensors[i].second, saved.tensors[i].second)) << kept.tensors[i].first;
    }
  });
}

TEST(GradientExchange, TwoWorkersStartFromTheSavedRanksMeanErrorFeedback) {
  test::run_ranks(2, [](int rank, Communicator& comm) {
    const auto params = exchange_params();
    GradientExchange exchange(params, comm, powersgd_config(), saved_by_three_ranks(numel_of(params)));
    const SavedCompression state = exchange.checkpoint_state();  // a collective
    if (rank != 0) return;
    EXPECT_EQ(state.world, 2);
    std::map<std::string, torch::Tensor> by_name(state.tensors.begin(), state.tensors.end());
    EXPECT_EQ(by_name.at("powersgd/steps").item<int64_t>(), 7);
    for (const char* r : {"rank0", "rank1"}) {
      EXPECT_TRUE(torch::equal(by_name.at(std::string(r) + "/powersgd/bucket0/error"),
                               torch::full({numel_of(params)}, 4.0f)))  // (1 + 4 + 7) / 3
          << r;
    }
    EXPECT_EQ(by_name.count("rank2/powersgd/bucket0/error"), 0u);
  });
}

TEST(GradientExchange, AFreshRunOnOneWorkerRecordsNoState) {
  test::run_ranks(1, [](int, Communicator& comm) {
    GradientExchange exchange(exchange_params(), comm, powersgd_config(), {});
    EXPECT_TRUE(exchange.checkpoint_state().empty());
  });
}

}  // namespace rt
