// Learning-rate schedules against torch.optim.lr_scheduler (fixture from
// scripts/make_fixtures.py) and closed-form warmup values.
#include <gtest/gtest.h>

#include "test_util.h"
#include "train/schedule.h"

namespace rt {

namespace {

void expect_trace(const std::string& kind) {
  const auto ref = test::read_reference("schedules.json");
  ScheduleSpec s;
  s.kind = kind;
  s.lr = ref.at("lr").get<double>();
  s.epochs = ref.at("epochs").get<int64_t>();
  s.steps_per_epoch = ref.at("steps_per_epoch").get<int64_t>();
  const auto expected = ref.at(kind).get<std::vector<double>>();
  double max_diff = 0;
  for (size_t step = 0; step < expected.size(); ++step) {
    max_diff = std::max(max_diff, std::abs(lr_at_step(s, static_cast<int64_t>(step)) - expected[step]));
  }
  EXPECT_LT(max_diff, 1e-9) << kind << ": max |lr - torch's lr| = " << max_diff;
}

}  // namespace

TEST(Schedule, MultiStepMatchesTorch) { expect_trace("multistep"); }
TEST(Schedule, CosineMatchesTorch) { expect_trace("cosine"); }
TEST(Schedule, OneCycleMatchesTorch) { expect_trace("onecycle"); }

TEST(Schedule, MultiStepAtChosenEpochs) {
  ScheduleSpec s;  // reference recipe: lr 0.1, milestones 5, 8, gamma 0.1
  s.steps_per_epoch = 391;
  EXPECT_DOUBLE_EQ(lr_at_step(s, 0), 0.1);
  EXPECT_DOUBLE_EQ(lr_at_step(s, 5 * 391 - 1), 0.1);  // last step of epoch 5
  EXPECT_NEAR(lr_at_step(s, 5 * 391), 0.01, 1e-15);   // first step of epoch 6
  EXPECT_NEAR(lr_at_step(s, 8 * 391), 0.001, 1e-15);
  EXPECT_NEAR(lr_at_step(s, 10 * 391 - 1), 0.001, 1e-15);
}

TEST(Schedule, LinearWarmupThenSchedule) {
  ScheduleSpec s;
  s.kind = "cosine";
  s.warmup_epochs = 2;
  s.steps_per_epoch = 10;
  s.epochs = 12;
  EXPECT_DOUBLE_EQ(lr_at_step(s, 0), 0.1 / 20);
  EXPECT_DOUBLE_EQ(lr_at_step(s, 9), 0.1 * 10 / 20);
  EXPECT_DOUBLE_EQ(lr_at_step(s, 19), 0.1);
  EXPECT_DOUBLE_EQ(lr_at_step(s, 20), 0.1);     // cosine starts at its peak
  EXPECT_NEAR(lr_at_step(s, 70), 0.05, 1e-12);  // half way through 100 steps
  s.kind = "constant";
  EXPECT_DOUBLE_EQ(lr_at_step(s, 4), 0.1 * 5 / 20);
  EXPECT_DOUBLE_EQ(lr_at_step(s, 100), 0.1);
}

// The learning rate follows the global batch (workers x per-worker batch x accumulation), never
// the per-worker batch: hand-computed values over world sizes 1..8.
TEST(Schedule, LearningRateScalesWithTheGlobalBatch) {
  struct Row {
    int64_t batch, world, accum, global;
    double lr;  // for --lr 0.1 at --lr-ref-batch 128
  };
  for (const Row r : {Row{128, 1, 1, 128, 0.1}, Row{128, 2, 1, 256, 0.2}, Row{64, 2, 1, 128, 0.1},
                      Row{32, 3, 2, 192, 0.15}, Row{128, 8, 1, 1024, 0.8}, Row{16, 8, 4, 512, 0.4}}) {
    const int64_t global = global_batch_size(r.batch, r.world, r.accum);
    EXPECT_EQ(global, r.global) << r.batch << " x " << r.world << " x " << r.accum;
    EXPECT_NEAR(scaled_learning_rate(0.1, global, 128), r.lr, 1e-12) << "world " << r.world;
  }
  // At a world size above 1 the per-worker batch alone would give another rate.
  EXPECT_NE(scaled_learning_rate(0.1, global_batch_size(64, 4, 1), 128), scaled_learning_rate(0.1, 64, 128));
}

// airbench94.py's triangle(steps=10, start=0.2, end=0.07, peak=0.23): the peak at int(2.3) = 2.
TEST(Schedule, TriangleAsThePapersFunction) {
  ScheduleSpec s;
  s.kind = "triangle";
  s.lr = 2;
  s.epochs = 2;
  s.steps_per_epoch = 5;
  const double expected[] = {0.2,
                             0.6,
                             1.0,
                             1 - 0.93 / 8,
                             1 - 2 * 0.93 / 8,
                             1 - 3 * 0.93 / 8,
                             1 - 4 * 0.93 / 8,
                             1 - 5 * 0.93 / 8,
                             1 - 6 * 0.93 / 8,
                             1 - 7 * 0.93 / 8,
                             0.07};
  for (int64_t step = 0; step <= 10; ++step) EXPECT_NEAR(lr_at_step(s, step), 2 * expected[step], 1e-12) << step;
  EXPECT_DOUBLE_EQ(lr_at(s, 1, 2), lr_at_step(s, 7));
}

}  // namespace rt
