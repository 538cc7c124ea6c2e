#include "train/batchnorm_replay.h"

#include <algorithm>

namespace rt {

BatchNormReplay::BatchNormReplay(torch::nn::Module& model, Communicator& comm, const torch::Device& device,
                                 bool images_may_be_skipped)
    : comm_(comm), device_(device), images_may_be_skipped_(images_may_be_skipped) {
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<BatchNormImpl>()) {
      bn->set_deferred_statistics(true);
      layers_.push_back(bn);
      width_ += 2 * bn->running_mean.size(0);
    }
  }
  width_ += 1;
}

void BatchNormReplay::step_done(int64_t micros, const std::vector<bool>& ran) {
  if (layers_.empty()) return;
  const int64_t world = comm_.world_size(), rank = comm_.rank();
  // This rank's micro-batches, one row each: every layer's [mean, variance] side by side.
  std::vector<std::vector<torch::Tensor>> kept;
  for (auto* bn : layers_) kept.push_back(bn->take_statistics());
  const auto ran_rows = static_cast<int64_t>(std::count(ran.begin(), ran.end(), true));
  for (const auto& k : kept) {
    TORCH_INTERNAL_ASSERT(static_cast<int64_t>(k.size()) == ran_rows, "BatchNorm layers kept ", k.size(),
                          " batch statistics of ", ran_rows, " micro-batches with images in one step");
  }
  const int64_t per_rank = (micros + world - 1) / world;
  TORCH_INTERNAL_ASSERT(static_cast<int64_t>(ran.size()) <= per_rank, "rank ", rank, " ran ", ran.size(),
                        " micro-batches of ", micros);
  // Row i: this rank's i-th micro-batch, its statistics and a 1 where it had images (else all 0).
  auto all = torch::zeros({world, per_rank, width_}, torch::TensorOptions(torch::kFloat32).device(device_));
  size_t next = 0;
  for (size_t i = 0; i < ran.size(); ++i) {
    if (!ran[i]) continue;
    std::vector<torch::Tensor> row;
    for (const auto& k : kept) row.push_back(k[next]);
    row.push_back(torch::ones({1}, row.front().options()));
    all[rank][static_cast<int64_t>(i)].copy_(torch::cat(row));
    ++next;
  }
  if (world > 1) comm_.allreduce_sum(all, "allreduce of BatchNorm batch statistics");  // x + 0 is exact
  // Which micro-batches had images: a host read, only where files may be left out (on a GPU
  // it waits for the step).
  const auto had_images = images_may_be_skipped_ ? all.select(2, width_ - 1).cpu() : torch::Tensor();
  for (int64_t m = 0; m < micros; ++m) {
    if (had_images.defined() && had_images[m % world][m / world].item<float>() == 0) continue;  // no statistics
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
