#include "train/optimizer.h"

#include <algorithm>
#include <set>

namespace rt {

torch::Tensor FusedSgd::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable_grad(true);
    loss = closure();
  }
  torch::NoGradGuard no_grad;
  const std::optional<torch::Tensor> found_inf =
      found_inf_.defined() ? std::optional<torch::Tensor>(found_inf_) : std::nullopt;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    const bool momentum = o.momentum() != 0;
    // [0]: parameters whose momentum buffer exists; [1]: first steps (Note [Fused step]).
    std::vector<torch::Tensor> params[2], grads[2], buffers[2];
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      size_t first = 0;
      if (momentum) {
        auto& slot = state()[p.unsafeGetTensorImpl()];
        if (!slot) {
          slot = std::make_unique<torch::optim::SGDParamState>(
              torch::optim::SGDParamState().momentum_buffer(torch::zeros_like(p)));
          first = 1;
        }
        buffers[first].push_back(static_cast<torch::optim::SGDParamState&>(*slot).momentum_buffer());
      }
      params[first].push_back(p);
      grads[first].push_back(p.grad());
    }
    for (size_t first : {0, 1}) {
      if (params[first].empty()) continue;
      at::_fused_sgd_(params[first], grads[first], buffers[first], o.weight_decay(), o.momentum(), o.lr(),
                      o.dampening(), o.nesterov(), /*maximize=*/false, /*is_first_step=*/first == 1,
                      /*grad_scale=*/std::nullopt, found_inf);
    }
  }
  return loss;
}

void FusedSgd::set_lr(double lr, int64_t epoch) {
  auto& groups = param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    const GroupRule r = i < rules_.size() ? rules_[i] : GroupRule{};
    groups[i].options().set_lr(r.until_epoch > 0 && epoch >= r.until_epoch ? 0.0 : lr * r.scale);
  }
}

namespace {

// The groups of --bn-bias-lr-mult and --whiten-bias-epochs: each parameter's (weight decay,
// rule), groups in order of first appearance.
std::unique_ptr<FusedSgd> make_grouped_sgd(Classifier& model, const Config& c, const torch::optim::SGDOptions& base) {
  std::set<const void*> bn_biases, whitening;
  for (const auto& m : model.modules(/*include_self=*/false)) {
    if (const auto* bn = m->as<torch::nn::BatchNorm2dImpl>(); bn && bn->bias.defined())
      bn_biases.insert(bn->bias.unsafeGetTensorImpl());
  }
  if (c.whiten_bias_epochs > 0) {
    for (const auto& p : model.whitening_parameters()) whitening.insert(p.unsafeGetTensorImpl());
  }
  struct Group {
    double weight_decay;
    FusedSgd::GroupRule rule;
    std::vector<torch::Tensor> params;
  };
  std::vector<Group> groups;
  for (const auto& p : trainable_parameters(model)) {
    const bool bn_bias = bn_biases.count(p.unsafeGetTensorImpl()) > 0;
    FusedSgd::GroupRule rule;
    rule.scale = bn_bias ? c.bn_bias_lr_mult : 1.0;
    rule.until_epoch = whitening.count(p.unsafeGetTensorImpl()) > 0 ? c.whiten_bias_epochs : 0;
    const double wd = c.no_decay_bn_bias && p.dim() <= 1 ? 0.0 : c.weight_decay / rule.scale;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) {
      return g.weight_decay == wd && g.rule.scale == rule.scale && g.rule.until_epoch == rule.until_epoch;
    });
    if (it == groups.end()) it = groups.insert(groups.end(), Group{wd, rule, {}});
    it->params.push_back(p);
  }
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  std::vector<FusedSgd::GroupRule> rules;
  for (auto& g : groups) {
    auto options = std::make_unique<torch::optim::SGDOptions>(base);
    options->weight_decay(g.weight_decay);
    param_groups.emplace_back(g.params, std::move(options));
    rules.push_back(g.rule);
  }
  auto sgd = std::make_unique<FusedSgd>(std::move(param_groups), base);
  sgd->set_group_rules(std::move(rules));
  return sgd;
}

}  // namespace

std::unique_ptr<FusedSgd> make_sgd(Classifier& model, const Config& c) {
  auto options = torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov).weight_decay(c.weight_decay);
  if (c.bn_bias_lr_mult != 1 || c.whiten_bias_epochs > 0) return make_grouped_sgd(model, c, options);
  if (!c.no_decay_bn_bias) return std::make_unique<FusedSgd>(trainable_parameters(model), options);
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : trainable_parameters(model)) (p.dim() <= 1 ? no_decay : decay).push_back(p);
  auto no_decay_options = std::make_unique<torch::optim::SGDOptions>(options);
  no_decay_options->weight_decay(0);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::SGDOptions>(options));
  groups.emplace_back(no_decay, std::move(no_decay_options));
  return std::make_unique<FusedSgd>(std::move(groups), options);
}

void set_learning_rate(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

torch::Tensor nonfinite_flag(const torch::Tensor& loss, const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  auto found = torch::isfinite(loss.detach()).logical_not().to(torch::kFloat32).reshape({1});
  std::vector<torch::Tensor> defined;
  for (const auto& g : grads) {
    if (g.defined()) defined.push_back(g);
  }
  if (!defined.empty()) {
    at::_amp_foreach_non_finite_check_and_unscale_(defined, found, torch::ones({1}, found.options()));
  }
  return found;
}

}  // namespace rt
