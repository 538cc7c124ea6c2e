#include "data/sampler.h"

#include <torch/torch.h>

#include "core/seed.h"

namespace rt {

int64_t shard_size(const ShardSpec& s) {
  if (s.drop_last) return s.dataset_size / s.world_size;
  return (s.dataset_size + s.world_size - 1) / s.world_size;
}

std::vector<int64_t> epoch_shard(const ShardSpec& s, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(s.dataset_size));
  if (s.shuffle) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(
        derive_seed(s.seed, SeedPurpose::kShuffle, static_cast<uint64_t>(epoch)));
    const auto perm = torch::randperm(s.dataset_size, gen, torch::kInt64);
    std::copy_n(perm.data_ptr<int64_t>(), s.dataset_size, order.begin());
  } else {
    for (int64_t i = 0; i < s.dataset_size; ++i) order[i] = i;
  }
  const int64_t per_rank = shard_size(s);
  std::vector<int64_t> shard(static_cast<size_t>(per_rank));
  for (int64_t k = 0; k < per_rank; ++k) {
    shard[k] = order[(s.rank + k * s.world_size) % s.dataset_size];  // wraps when padding
  }
  return shard;
}

}  // namespace rt
