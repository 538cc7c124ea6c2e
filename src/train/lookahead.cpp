#include "train/lookahead.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>

#include "core/errors.h"

namespace rt {

Lookahead::Lookahead(Classifier& model, int64_t every, double rate, double power, int64_t total_steps)
    : every_(every), total_steps_(total_steps), rate_(rate), power_(power) {
  torch::NoGradGuard no_grad;
  auto add = [this](const std::string& name, const torch::Tensor& t) {
    if (!t.is_floating_point()) return;  // num_batches_tracked
    names_.push_back(name);
    weights_.push_back(t);
    average_.push_back(t.detach().clone());
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
}

double Lookahead::decay_at(int64_t step) const {
  return std::pow(rate_, static_cast<double>(every_)) *
         std::pow(static_cast<double>(step) / static_cast<double>(total_steps_), power_);
}

void Lookahead::update(double decay) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < weights_.size(); ++i) {
    average_[i].lerp_(weights_[i], 1.0 - decay);
    weights_[i].copy_(average_[i]);
  }
}

void Lookahead::after_step(int64_t step) {
  if (step % every_ == 0) update(decay_at(step));
  if (step >= total_steps_) update(1.0);  // the weights are the average's
}

std::vector<std::pair<std::string, torch::Tensor>> Lookahead::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> s;
  for (size_t i = 0; i < names_.size(); ++i) s.emplace_back(names_[i], average_[i]);
  return s;
}

void Lookahead::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& saved) {
  RT_CHECK_USER(saved.size() == names_.size(),
                "the checkpoint's weight average (--ema-every) holds {} tensors, the model has {}", saved.size(),
                names_.size());
  const std::map<std::string, torch::Tensor> by_name(saved.begin(), saved.end());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < names_.size(); ++i) {
    const auto it = by_name.find(names_[i]);
    RT_CHECK_USER(it != by_name.end(), "the checkpoint's weight average (--ema-every) lacks '{}'", names_[i]);
    const torch::Tensor& t = it->second;
    RT_CHECK_USER(t.sizes() == average_[i].sizes() && t.dtype() == average_[i].dtype(),
                  "the checkpoint's weight average (--ema-every) holds '{}' as [{}] {}, the model as [{}] {}",
                  names_[i], fmt::join(t.sizes().vec(), ", "), std::string(c10::toString(t.scalar_type())),
                  fmt::join(average_[i].sizes().vec(), ", "), std::string(c10::toString(average_[i].scalar_type())));
    average_[i].copy_(t);
  }
}

}  // namespace rt
