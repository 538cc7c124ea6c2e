// The one bucket assignment (GradientSync and the scaling model): hand-worked cases.
#include <gtest/gtest.h>

#include "parallel/buckets.h"

namespace rt {

using Buckets = std::vector<std::vector<size_t>>;

TEST(Buckets, ReverseRegistrationOrderUpToTheCap) {
  // Registration order 0..4 of 40, 30, 20, 10, 50 bytes, cap 60: backward order is 4, 3, 2, ...
  const std::vector<BucketParam> p = {{40, 0}, {30, 0}, {20, 0}, {10, 0}, {50, 0}};
  EXPECT_EQ(assign_buckets(p, 60), (Buckets{{4, 3}, {2, 1}, {0}}));
  EXPECT_EQ(assign_buckets(p, 1000), (Buckets{{4, 3, 2, 1, 0}}));
  EXPECT_EQ(assign_buckets(p, 50), (Buckets{{4}, {3, 2}, {1}, {0}}));  // 10 + 20 = 30, + 30 > 50
}

TEST(Buckets, AParameterOverTheCapGetsItsOwnBucket) {
  const std::vector<BucketParam> p = {{10, 0}, {500, 0}, {10, 0}};
  EXPECT_EQ(assign_buckets(p, 100), (Buckets{{2}, {1}, {0}}));
}

TEST(Buckets, AChangeOfKindStartsANewBucket) {
  // kinds: float32 on GPU 0 = 0, bf16 = 1
  const std::vector<BucketParam> p = {{10, 0}, {10, 0}, {10, 1}, {10, 1}, {10, 0}};
  EXPECT_EQ(assign_buckets(p, 1000), (Buckets{{4}, {3, 2}, {1, 0}}));
}

TEST(Buckets, NoParametersNoBuckets) { EXPECT_TRUE(assign_buckets({}, 100).empty()); }

}  // namespace rt
