// BatchNorm2d that can compute its batch statistics across ranks (SyncBatchNorm). Without a
// reducer it is exactly torch::nn::BatchNorm2d (same parameters, buffers and names). With one
// (set by the trainer for --sync-bn), training-mode forward sums the per-channel count, sum
// and sum of squares over all ranks, and backward sums the two per-channel gradient
// reductions, as torch.nn.SyncBatchNorm does: N ranks with batch B then normalise exactly like
// one process with batch N*B. The model layer does not know about communicators: the reducer
// is a function that sums a tensor over ranks in place.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <utility>
#include <vector>

namespace rt {

using SumOverRanks = std::function<void(torch::Tensor&)>;

class BatchNormImpl : public torch::nn::BatchNorm2dImpl {
 public:
  explicit BatchNormImpl(int64_t features) : torch::nn::BatchNorm2dImpl(torch::nn::BatchNorm2dOptions(features)) {}
  explicit BatchNormImpl(const torch::nn::BatchNorm2dOptions& options) : torch::nn::BatchNorm2dImpl(options) {}
  torch::Tensor forward(const torch::Tensor& x);
  // nullptr: local statistics (plain BatchNorm2d).
  void set_sum_over_ranks(SumOverRanks reducer) { sum_over_ranks_ = std::move(reducer); }

  // Deferred running statistics (--global-batch): training-mode forward normalises with the
  // batch's statistics as usual but leaves running_mean and running_var alone, and keeps the
  // batch's [mean, unbiased variance] ([2C] float32) instead, for apply_running_update() to
  // fold in later in an order of the caller's choosing (train/batchnorm_replay.h).
  void set_deferred_statistics(bool deferred) { deferred_ = deferred; }
  // The statistics kept since the last take, one per training forward, in order.
  std::vector<torch::Tensor> take_statistics() { return std::exchange(pending_, {}); }
  // running = (1 - momentum) running + momentum x batch, as torch updates them, for one batch's
  // [mean, unbiased variance]; counts the batch in num_batches_tracked.
  void apply_running_update(const torch::Tensor& statistics);

 private:
  SumOverRanks sum_over_ranks_;
  bool deferred_ = false;
  std::vector<torch::Tensor> pending_;
};
TORCH_MODULE(BatchNorm);

// Attaches (or with nullptr detaches) `reducer` to every BatchNorm in `model`; returns how many.
int64_t set_sync_batchnorm(torch::nn::Module& model, const SumOverRanks& reducer);

}  // namespace rt
