// The step-time model: ring formula, link fit, bucket grouping, projection.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/errors.h"
#include "measure/scaling.h"
#include "model/registry.h"

namespace rt {
namespace {

TEST(Scaling, RingAllreduceFollowsTheTextbookFormula) {
  const LinkModel link{5e-6, 10e9, "x"};
  EXPECT_DOUBLE_EQ(ring_allreduce_seconds(link, 1e9, 1), 0.0);
  // n = 4: 2(n-1) = 6 hops of latency, 2(n-1)/n = 1.5 times the message over the link.
  EXPECT_NEAR(ring_allreduce_seconds(link, 1e9, 4), 6 * 5e-6 + 1.5 * 0.1, 1e-12);
  // For large n the bandwidth term tends to 2 S / beta.
  EXPECT_NEAR(ring_allreduce_seconds({0, 10e9, "x"}, 1e9, 1000000), 0.2, 1e-6);
}

TEST(Scaling, FitRecoversLatencyAndBandwidth) {
  const LinkModel truth{40e-6, 2.5e9, "truth"};
  for (int64_t n : {2, 3, 8}) {
    std::vector<std::pair<double, double>> points;
    for (double s = 4096; s <= 256e6; s *= 4) points.emplace_back(s, ring_allreduce_seconds(truth, s, n));
    const LinkModel fit = fit_link(points, n);
    EXPECT_NEAR(fit.alpha / truth.alpha, 1.0, 1e-6) << n;
    EXPECT_NEAR(fit.beta / truth.beta, 1.0, 1e-6) << n;
  }
  EXPECT_THROW(fit_link({{4096, 1e-3}}, 2), UserError);
  // Small messages that sometimes wait a 4 ms timer tick and sometimes pass at once (a token
  // bucket's burst) leave the bandwidth, which the large ones set, as it is.
  std::vector<std::pair<double, double>> points;
  int k = 0;
  for (double s = 4096; s <= 70e6; s *= 4, ++k) {  // 4 KiB .. 64 MiB
    const double t = ring_allreduce_seconds(truth, s, 2);
    points.emplace_back(s, s < 1e6 ? (k % 3 == 0 ? 4e-3 : 0.3e-3) : t);
  }
  EXPECT_NEAR(fit_link(points, 2).beta / truth.beta, 1.0, 1e-6);
}

TEST(Scaling, BucketsAreCappedAndCoverEveryParameter) {
  // Every parameter in exactly one bucket; a bucket over the cap only for one larger parameter.
  auto model = make_model("resnet18", 10, false);
  std::vector<double> bytes;
  for (const auto& p : model->parameters()) bytes.push_back(static_cast<double>(p.numel() * 4));
  for (double cap_mb : {1.0, 5.0, 25.0, 1000.0}) {
    const auto buckets = bucket_sizes(bytes, cap_mb * 1024 * 1024);
    double total = 0;
    for (double b : buckets) total += b;
    EXPECT_DOUBLE_EQ(total, 11173962.0 * 4);
    for (double b : buckets) {
      const bool single_large = std::find(bytes.begin(), bytes.end(), b) != bytes.end();
      EXPECT_TRUE(b <= cap_mb * 1024 * 1024 || single_large) << b;
    }
  }
  EXPECT_EQ(bucket_sizes(bytes, 1e12).size(), 1u);
}

TEST(Scaling, ProjectionHidesCommunicationUntilItOutgrowsBackward) {
  StepModel m;
  m.compute_points = {{1, 1e-3}};
  m.bucket_bytes = {10e6, 10e6, 10e6, 10e6};
  m.overlap = 0.75;
  const LinkModel fast{1e-6, 100e9, "fast"}, slow{50e-6, 0.1e9, "slow"};
  const auto p = project(m, fast, {1, 2, 4, 8}, 64, /*weak=*/true);
  ASSERT_EQ(p.size(), 4u);
  EXPECT_DOUBLE_EQ(p[0].speedup, 1.0);
  for (const auto& x : p) {
    EXPECT_GT(x.efficiency, 0.98) << x.workers;  // only the last bucket is exposed
    EXPECT_NEAR(x.exposed_seconds, ring_allreduce_seconds(fast, 10e6, x.workers), 1e-12);
  }
  const auto q = project(m, slow, {1, 2, 4, 8}, 64, true);
  EXPECT_LT(q[3].efficiency, q[1].efficiency);  // comm grows with n, compute does not (weak)
  EXPECT_EQ(first_inefficient(q, 0.9), 2);
  // Strong scaling: the batch per worker shrinks, so efficiency falls sooner.
  const auto s = project(m, slow, {1, 2, 4, 8}, 64, false);
  EXPECT_LT(s[3].efficiency, q[3].efficiency);
  EXPECT_NEAR(s[1].compute_seconds, 32e-3, 1e-12);
}

TEST(Scaling, CompressionTrafficFromShapesByHand) {
  // A 3x3 conv of 64 channels (64 x 576 as PowerSGD sees it) and its 64 biases.
  const std::vector<std::vector<int64_t>> shapes = {{64, 64, 3, 3}, {64}};
  const double numel = 64 * 576 + 64;
  auto traffic = [&](const char* text) { return bucket_traffic(GradCompression::parse(text), shapes); };
  EXPECT_DOUBLE_EQ(traffic("none").during_backward, numel * 4);
  EXPECT_DOUBLE_EQ(traffic("bf16").during_backward, numel * 2);
  EXPECT_DOUBLE_EQ(traffic("fp16").after_backward, 0);
  // Rank 4: P (64 x 4) with the 64 biases during backward, Q (576 x 4) after it.
  EXPECT_DOUBLE_EQ(traffic("powersgd:4").during_backward, (64 * 4 + 64) * 4);
  EXPECT_DOUBLE_EQ(traffic("powersgd:4").after_backward, 576 * 4 * 4);
  // Rank 30: (64 + 576) x 30 x 2 > 64 x 576, not worth compressing (DDP's rule): sent as it is.
  EXPECT_DOUBLE_EQ(traffic("powersgd:30").during_backward, numel * 4);
  EXPECT_DOUBLE_EQ(traffic("powersgd:30").after_backward, 0);
  EXPECT_EQ(powersgd_rank(64, 1, GradCompression::parse("powersgd:4")), 0);  // a vector
  // During PowerSGD's warm-up the bucket goes as it is.
  EXPECT_DOUBLE_EQ(bucket_traffic(GradCompression::parse("powersgd:4"), shapes, false).during_backward, numel * 4);
}

TEST(Scaling, CompressedStepByHand) {
  // One bucket: 8 MB in fp32, or 1 MB during backward + 0.5 MB after it with PowerSGD.
  StepModel m;
  m.compute_points = {{32, 0.3}};
  m.backward_share = 2.0 / 3;
  m.overlap = 0.5;  // window: 0.5 x 0.2 s = 0.1 s
  m.bucket_bytes = {8e6};
  const LinkModel link{1e-4, 1e8, "test"};  // 2 ranks: ring(S) = 2e-4 + S / 1e8
  const auto fp32 = predict_step(m, link, 2, 32);
  EXPECT_NEAR(fp32.exposed_seconds, 2e-4 + 0.08, 1e-12);  // the only bucket is the last: never hidden
  m.traffic = {{1e6, 0.5e6}};
  m.compress_seconds = 0.02;
  const auto psgd = predict_step(m, link, 2, 32);
  EXPECT_NEAR(psgd.comm_seconds, (2e-4 + 0.01) + (2e-4 + 0.005), 1e-12);
  EXPECT_NEAR(psgd.exposed_seconds, (2e-4 + 0.01) + (2e-4 + 0.005), 1e-12);
  EXPECT_NEAR(psgd.step_seconds, 0.3 + 0.02 + psgd.exposed_seconds, 1e-12);
  EXPECT_NEAR(predict_step(m, link, 1, 32).step_seconds, 0.3, 1e-12);  // one worker: nothing to compress
  // Many buckets: those sent during backward hide behind it, the after-backward ones never do.
  m.traffic = {{1e6, 0.5e6}, {1e6, 0.5e6}, {1e6, 0.5e6}};
  const auto three = predict_step(m, link, 2, 32);
  EXPECT_NEAR(three.exposed_seconds, std::max(2e-4 + 0.01, 3 * (2e-4 + 0.01) - 0.1) + 3 * (2e-4 + 0.005), 1e-12);
}

TEST(Scaling, MeasuredReadinessMakesThePipelineOfBuckets) {
  // backward = 2/3 x 0.3 = 0.2 s. Bucket 0 (4 MB) ready at 10% of it, bucket 1 (2 MB) at the end.
  StepModel m;
  m.compute_points = {{32, 0.3}};
  m.bucket_bytes = {4e6, 2e6};
  m.bucket_ready = {0.1, 1.0};
  const LinkModel slow{0, 1e7, "slow"};  // 2 ranks: ring(S) = S / 1e7
  // Bucket 0 runs 0.02 .. 0.42 s, bucket 1 after it to 0.62 s: 0.42 s past backward's end.
  EXPECT_NEAR(predict_step(m, slow, 2, 32).exposed_seconds, 0.42, 1e-12);
  const LinkModel fast{0, 1e9, "fast"};  // bucket 0 ends at 0.024 s, bucket 1 starts at 0.2 s: only it shows
  EXPECT_NEAR(predict_step(m, fast, 2, 32).exposed_seconds, 0.002, 1e-12);
  // Readiness per bucket: the latest of its parameters' (buckets fill from the last parameter).
  EXPECT_EQ(bucket_readiness({4, 4, 4}, {0.9, 0.5, 0.1}, 8), (std::vector<double>{0.5, 0.9}));
  EXPECT_THROW(bucket_readiness({4, 4}, {0.5}, 8), UserError);
}

TEST(Scaling, LockStepCostCalibratedOnOneLinkCarriesToAnother) {
  // One 8 MB fp32 bucket, never hidden: ring(S) = 2e-4 + S / beta over 2 ranks.
  StepModel m;
  m.compute_points = {{32, 0.3}};
  m.bucket_bytes = {8e6};
  const LinkModel fast{1e-4, 1e9, "fast"}, slow{1e-4, 1e8, "slow"};
  // A run over the fast link measured at 64 / (0.3 + 0.0082 + 0.05) img/s: 50 ms unexplained.
  const double sync = calibrate_sync_seconds(m, fast, 2, 32, 64 / (0.3 + (2e-4 + 0.008) + 0.05));
  EXPECT_NEAR(sync, 0.05, 1e-12);
  m.sync_seconds = sync;
  EXPECT_NEAR(predict_step(m, slow, 2, 32).step_seconds, 0.3 + 0.05 + (2e-4 + 0.08), 1e-12);
  EXPECT_NEAR(predict_step(m, slow, 1, 32).step_seconds, 0.3, 1e-12);  // one worker: no lock-step
  // A run faster than the model explains gives 0, not a negative cost; the model's own sync is ignored.
  EXPECT_EQ(calibrate_sync_seconds(m, fast, 2, 32, 64 / 0.2), 0);
  EXPECT_NEAR(calibrate_sync_seconds(m, fast, 2, 32, 64 / (0.3 + (2e-4 + 0.008) + 0.05)), 0.05, 1e-12);
  EXPECT_THROW(calibrate_sync_seconds(m, fast, 1, 32, 100), UserError);
  EXPECT_THROW(calibrate_sync_seconds(m, fast, 2, 32, 0), UserError);
}

TEST(Scaling, ComputeInterpolatesBetweenMeasuredBatches) {
  StepModel m;
  m.compute_points = {{128, 10.0}, {64, 4.0}};  // unsorted on purpose; 64 is cheaper per image
  EXPECT_DOUBLE_EQ(compute_seconds(m, 64), 4.0);
  EXPECT_DOUBLE_EQ(compute_seconds(m, 128), 10.0);
  EXPECT_DOUBLE_EQ(compute_seconds(m, 96), 7.0);
  EXPECT_DOUBLE_EQ(compute_seconds(m, 32), 2.0);    // 4 s / 64 images x 32
  EXPECT_DOUBLE_EQ(compute_seconds(m, 256), 20.0);  // 10 s / 128 images x 256
  EXPECT_THROW(compute_seconds(StepModel{}, 8), UserError);
}

TEST(Scaling, PresetsAndUnknownNames) {
  for (const auto& n : link_preset_names()) EXPECT_GT(link_preset(n).beta, 0) << n;
  EXPECT_THROW(link_preset("carrier-pigeon"), UserError);
}

}  // namespace
}  // namespace rt
