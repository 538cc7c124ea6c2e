#include "train/optimizer.h"

namespace rt {

std::unique_ptr<torch::optim::SGD> make_sgd(Classifier& model, const Config& c) {
  auto options = torch::optim::SGDOptions(c.lr)
                     .momentum(c.momentum)
                     .nesterov(c.nesterov)
                     .weight_decay(c.weight_decay);
  if (!c.no_decay_bn_bias) return std::make_unique<torch::optim::SGD>(model.parameters(), options);
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : model.parameters()) (p.dim() <= 1 ? no_decay : decay).push_back(p);
  auto no_decay_options = std::make_unique<torch::optim::SGDOptions>(options);
  no_decay_options->weight_decay(0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(options));
  groups.emplace_back(no_decay, std::move(no_decay_options));
  return std::make_unique<torch::optim::SGD>(std::move(groups), options);
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

}  // namespace rt
