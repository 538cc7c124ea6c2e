#include "model/batchnorm.h"

namespace rt {

namespace {

// y = (x - mean) * invstd * weight + bias with mean/var over all ranks' batches, computed in
// the statistics' dtype (float32, or float64 for float64 inputs) and returned in x's dtype
// (bf16 under autocast, as BatchNorm does). Shapes: x [N, C, H, W]; weight, bias [C]; mean,
// invstd [C] in the statistics' dtype; count: [] float64, the number of values per channel
// over all ranks (a tensor: it is never read on the host).
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& mean,
                               const torch::Tensor& invstd, const torch::Tensor& count, const SumOverRanks* reducer) {
    ctx->save_for_backward({x, weight, mean, invstd, count});
    ctx->saved_data["reducer"] = reinterpret_cast<int64_t>(reducer);
    const auto shape = std::vector<int64_t>{1, -1, 1, 1};
    const auto y = (x.to(mean.scalar_type()) - mean.view(shape)) * (invstd * weight).view(shape) + bias.view(shape);
    return y.to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3], &n = saved[4];
    const auto* reducer = reinterpret_cast<const SumOverRanks*>(ctx->saved_data["reducer"].toInt());
    const auto shape = std::vector<int64_t>{1, -1, 1, 1};
    const auto dy = grads[0].to(mean.scalar_type());
    const auto xmu = x.to(mean.scalar_type()) - mean.view(shape);
    // Local per-channel reductions; their sums over ranks give the input gradient.
    auto sums = torch::cat({dy.sum({0, 2, 3}), (dy * xmu).sum({0, 2, 3})});
    const auto grad_weight = sums.narrow(0, weight.size(0), weight.size(0)) * invstd;  // local, as DDP expects
    const auto grad_bias = sums.narrow(0, 0, weight.size(0)).clone();
    (*reducer)(sums);
    const int64_t c = weight.size(0);
    const auto mean_dy = (sums.narrow(0, 0, c) / n).view(shape);
    const auto mean_dy_xmu = (sums.narrow(0, c, c) / n).view(shape);
    const auto grad_x =
        (dy - mean_dy - xmu * (invstd * invstd).view(shape) * mean_dy_xmu) * (invstd * weight).view(shape);
    return {grad_x.to(x.scalar_type()),
            grad_weight.to(weight.scalar_type()),
            grad_bias.to(weight.scalar_type()),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor BatchNormImpl::forward(const torch::Tensor& x) {
  if (deferred_ && is_training()) {
    {
      torch::NoGradGuard no_grad;
      const auto [var, mean] = torch::var_mean(x.detach().to(torch::kFloat32), {0, 2, 3}, /*unbiased=*/true);
      pending_.push_back(torch::cat({mean, var}));
    }
    return torch::batch_norm(x, weight, bias, /*running_mean=*/{}, /*running_var=*/{}, /*training=*/true,
                             options.momentum().value_or(0.1), options.eps(), at::globalContext().userEnabledCuDNN());
  }
  if (!sum_over_ranks_ || !is_training()) return torch::nn::BatchNorm2dImpl::forward(x);
  const int64_t c = x.size(1);
  // Statistics in float32 whatever the input (bf16 under autocast could not even hold the count:
  // 257 x 32 x 32 rounds), float64 for float64 inputs.
  const auto stat_type = x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  torch::Tensor mean, invstd, count;
  {
    torch::NoGradGuard no_grad;  // statistics: their gradient is taken care of in backward
    const auto xf = x.detach().to(stat_type);
    auto stats = torch::cat({xf.sum({0, 2, 3}), (xf * xf).sum({0, 2, 3}),
                             torch::full({1}, static_cast<double>(x.numel() / c), xf.options())});
    sum_over_ranks_(stats);
    // [] float64: acts as a number in the arithmetic below (a 0-dim tensor does not promote the
    // [C] tensors it meets), but stays on the device: no host read in the forward pass.
    count = stats.narrow(0, 2 * c, 1).to(torch::kFloat64).reshape({});
    mean = stats.narrow(0, 0, c) / count;
    const auto var = (stats.narrow(0, c, c) / count - mean * mean).clamp_min(0);  // biased
    invstd = (var + options.eps()).rsqrt();
    const double m = options.momentum().value_or(0.1);
    running_mean.mul_(1 - m).add_(mean, m);
    running_var.mul_(1 - m).add_(var * (count / (count - 1).clamp_min(1)), m);  // unbiased, as torch
    num_batches_tracked.add_(1);
  }
  return SyncBatchNormFunction::apply(x, weight, bias, mean, invstd, count, &sum_over_ranks_);
}

void BatchNormImpl::apply_running_update(const torch::Tensor& statistics) {
  torch::NoGradGuard no_grad;
  const int64_t c = running_mean.size(0);
  const double m = options.momentum().value_or(0.1);
  running_mean.mul_(1 - m).add_(statistics.narrow(0, 0, c).to(running_mean.dtype()), m);
  running_var.mul_(1 - m).add_(statistics.narrow(0, c, c).to(running_var.dtype()), m);
  num_batches_tracked.add_(1);
}

int64_t set_sync_batchnorm(torch::nn::Module& model, const SumOverRanks& reducer) {
  int64_t count = 0;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<BatchNormImpl>()) {
      bn->set_sum_over_ranks(reducer);
      ++count;
    }
  }
  return count;
}

}  // namespace rt
