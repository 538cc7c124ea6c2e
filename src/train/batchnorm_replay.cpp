#include "train/batchnorm_replay.h"

namespace rt {

BatchNormReplay::BatchNormReplay(torch::nn::Module& model, Communicator& comm, const torch::Device& device)
    : comm_(comm), device_(device) {
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<BatchNormImpl>()) {
      bn->set_deferred_statistics(true);
      layers_.push_back(bn);
      width_ += 2 * bn->running_mean.size(0);
    }
  }
}

void BatchNormReplay::step_done(int64_t micros) {
  if (layers_.empty()) return;
  const int64_t world = comm_.world_size(), rank = comm_.rank();
  // This rank's micro-batches, one row each: every layer's [mean, variance] side by side.
  std::vector<std::vector<torch::Tensor>> kept;
  for (auto* bn : layers_) kept.push_back(bn->take_statistics());
  const auto mine = static_cast<int64_t>(kept.front().size());
  for (const auto& k : kept) {
    TORCH_INTERNAL_ASSERT(static_cast<int64_t>(k.size()) == mine, "BatchNorm layers kept ", k.size(), " and ", mine,
                          " batch statistics in one step");
  }
  const int64_t per_rank = (micros + world - 1) / world;
  TORCH_INTERNAL_ASSERT(mine <= per_rank, "rank ", rank, " kept ", mine, " micro-batches' statistics of ", micros);
  auto all = torch::zeros({world, per_rank, width_}, torch::TensorOptions(torch::kFloat32).device(device_));
  for (int64_t i = 0; i < mine; ++i) {
    std::vector<torch::Tensor> row;
    for (const auto& k : kept) row.push_back(k[static_cast<size_t>(i)]);
    all[rank][i].copy_(torch::cat(row));
  }
  if (world > 1) comm_.allreduce_sum(all, "allreduce of BatchNorm batch statistics");  // x + 0 is exact
  for (int64_t m = 0; m < micros; ++m) {
    const auto row = all[m % world][m / world];
    int64_t offset = 0;
    for (auto* bn : layers_) {
      const int64_t width = 2 * bn->running_mean.size(0);
      bn->apply_running_update(row.narrow(0, offset, width));
      offset += width;
    }
  }
}

}  // namespace rt
