#include "train/epoch_stats.h"

namespace rt {

void EpochStats::add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels,
                     int64_t skipped) {
  skipped_ += skipped;
  const auto b = labels.size(0);
  if (b == 0) return;  // an empty batch (data/epoch_plan.h)
  const auto finite = torch::isfinite(loss.detach());
  const auto l = loss.detach().to(torch::kFloat64) * static_cast<double>(b);
  const auto c = logits.detach().argmax(1).eq(labels.to(device_)).sum().to(torch::kFloat64);
  auto batch = torch::stack({l, c, torch::full({}, static_cast<double>(b), l.options())});
  batch = torch::where(finite, batch, torch::zeros_like(batch));
  sums_ = sums_.defined() ? sums_ + batch : batch;
  images_ += b;
}

void EpochStats::restore(const EpochSums& partial) {
  sums_ = torch::tensor({partial.loss_x_images, partial.correct, partial.images}, torch::TensorOptions(torch::kFloat64))
              .to(device_);
  skipped_ = static_cast<int64_t>(partial.skipped_images);
}

std::pair<double, double> EpochStats::means() const {
  if (!sums_.defined()) return {0, 0};
  const auto t = sums_.cpu();
  const double* v = t.data_ptr<double>();
  return v[2] > 0 ? std::make_pair(v[0] / v[2], v[1] / v[2]) : std::make_pair(0.0, 0.0);
}

EpochSums EpochStats::across_ranks() const {
  const auto f64 = torch::TensorOptions(torch::kFloat64).device(device_);
  auto t = torch::cat(
      {sums_.defined() ? sums_ : torch::zeros({3}, f64), torch::full({1}, static_cast<double>(skipped_), f64)});
  comm_.allreduce_sum(t, "allreduce of epoch training statistics");
  t = t.cpu();
  return {t[0].item<double>(), t[1].item<double>(), t[2].item<double>(), 0, t[3].item<double>()};
}

}  // namespace rt
