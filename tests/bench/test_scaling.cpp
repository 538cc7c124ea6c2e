// The step-time model: ring formula, link fit, bucket grouping, projection.
#include <gtest/gtest.h>

#include <algorithm>

#include "bench/scaling.h"
#include "core/errors.h"
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
