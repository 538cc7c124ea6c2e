#include "model/batchnorm.h"

namespace rt {

namespace {

// y = (x - mean) * invstd * weight + bias with mean/var over all ranks' batches.
// Shapes: x [N, C, H, W]; weight, bias, mean, invstd [C].
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& mean, const torch::Tensor& invstd,
                               double total_count, const SumOverRanks* reducer) {
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["total_count"] = total_count;
    ctx->saved_data["reducer"] = reinterpret_cast<int64_t>(reducer);
    const auto shape = std::vector<int64_t>{1, -1, 1, 1};
    return (x - mean.view(shape)) * (invstd * weight).view(shape) + bias.view(shape);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double n = ctx->saved_data["total_count"].toDouble();
    const auto* reducer = reinterpret_cast<const SumOverRanks*>(ctx->saved_data["reducer"].toInt());
    const auto shape = std::vector<int64_t>{1, -1, 1, 1};
    const auto& dy = grads[0];
    const auto xmu = x - mean.view(shape);
    // Local per-channel reductions; their sums over ranks give the input gradient.
    auto sums = torch::cat({dy.sum({0, 2, 3}), (dy * xmu).sum({0, 2, 3})});
    const auto grad_weight = sums.narrow(0, weight.size(0), weight.size(0)) * invstd;  // local, as DDP expects
    const auto grad_bias = sums.narrow(0, 0, weight.size(0)).clone();
    (*reducer)(sums);
    const int64_t c = weight.size(0);
    const auto mean_dy = (sums.narrow(0, 0, c) / n).view(shape);
    const auto mean_dy_xmu = (sums.narrow(0, c, c) / n).view(shape);
    const auto grad_x = (dy - mean_dy - xmu * (invstd * invstd).view(shape) * mean_dy_xmu) *
                        (invstd * weight).view(shape);
    return {grad_x, grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor BatchNormImpl::forward(const torch::Tensor& x) {
  if (!sum_over_ranks_ || !is_training()) return torch::nn::BatchNorm2dImpl::forward(x);
  const int64_t c = x.size(1);
  const double local_count = static_cast<double>(x.numel() / c);
  torch::Tensor mean, invstd;
  double n = 0;
  {
    torch::NoGradGuard no_grad;  // statistics: their gradient is taken care of in backward
    const auto xf = x.detach();
    auto stats = torch::cat({xf.sum({0, 2, 3}), (xf * xf).sum({0, 2, 3}),
                             torch::full({1}, local_count, xf.options())});
    sum_over_ranks_(stats);
    n = stats[2 * c].item<double>();
    mean = stats.narrow(0, 0, c) / n;
    const auto var = (stats.narrow(0, c, c) / n - mean * mean).clamp_min(0);  // biased
    invstd = (var + options.eps()).rsqrt();
    const double m = options.momentum().value_or(0.1);
    running_mean.mul_(1 - m).add_(mean, m);
    running_var.mul_(1 - m).add_(var * (n / std::max(n - 1, 1.0)), m);  // unbiased, as torch
    num_batches_tracked.add_(1);
  }
  return SyncBatchNormFunction::apply(x, weight, bias, mean, invstd, n, &sum_over_ranks_);
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
