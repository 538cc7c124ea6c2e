// Which samples a rank sees in an epoch, with torch.utils.data.DistributedSampler semantics:
// one seeded permutation per epoch shared by all ranks, padded by wrapping to a multiple of
// the world size (or truncated with drop_last), then rank-strided: rank r takes positions
// r, r + W, r + 2W, ... World size 1 is the plain shuffled (or ordered) epoch.
#pragma once

#include <cstdint>
#include <vector>

namespace rt {

struct ShardSpec {
  int64_t dataset_size = 0;
  int64_t world_size = 1;
  int64_t rank = 0;
  bool shuffle = true;
  bool drop_last = false;  // drop the tail instead of padding by wrapping
  uint64_t seed = 0;
};

// Number of samples each rank gets per epoch.
int64_t shard_size(const ShardSpec& s);

// The sample indices rank s.rank visits in `epoch`, in order.
std::vector<int64_t> epoch_shard(const ShardSpec& s, int64_t epoch);

}  // namespace rt
