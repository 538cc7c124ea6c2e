#include <gtest/gtest.h>

#include <set>

#include "data/sampler.h"

namespace rt {

TEST(Sampler, RanksPartitionAPaddedEpochLikeDistributedSampler) {
  for (int64_t world : {1, 2, 3, 4}) {
    ShardSpec s{10, world, 0, true, false, 11};
    std::multiset<int64_t> all;
    for (int64_t r = 0; r < world; ++r) {
      s.rank = r;
      const auto shard = epoch_shard(s, 4);
      EXPECT_EQ(static_cast<int64_t>(shard.size()), (10 + world - 1) / world);
      all.insert(shard.begin(), shard.end());
    }
    // Every sample at least once; padding repeats at most world - 1 of them.
    EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 10u) << world;
    EXPECT_EQ(static_cast<int64_t>(all.size()), ((10 + world - 1) / world) * world);
  }
}

TEST(Sampler, RankStridedSliceOfOneSharedPermutation) {
  ShardSpec one{12, 1, 0, true, false, 5}, three{12, 3, 1, true, false, 5};
  const auto order = epoch_shard(one, 2), rank1 = epoch_shard(three, 2);
  ASSERT_EQ(rank1.size(), 4u);
  for (size_t k = 0; k < rank1.size(); ++k) EXPECT_EQ(rank1[k], order[1 + 3 * k]);
  EXPECT_NE(epoch_shard(one, 2), epoch_shard(one, 3));  // a new permutation each epoch
  EXPECT_EQ(epoch_shard(one, 2), epoch_shard(one, 2));
}

TEST(Sampler, DropLastAndNoShuffle) {
  ShardSpec s{10, 3, 2, false, true, 0};
  EXPECT_EQ(shard_size(s), 3);
  EXPECT_EQ(epoch_shard(s, 0), (std::vector<int64_t>{2, 5, 8}));
}

}  // namespace rt
