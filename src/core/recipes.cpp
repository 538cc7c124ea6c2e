#include "core/recipes.h"

#include <fmt/ranges.h>

#include "core/errors.h"

namespace rt {

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> all = {
      {"reference",
       "the Python course project: resnet50, 10 epochs, batch 128, SGD lr 0.1 momentum 0.9, "
       "weight decay 1e-4, multistep [5,8] x0.1, fp32, NCHW",
       {{"model", "resnet50"},
        {"epochs", 10},
        {"batch_size", 128},
        {"lr", 0.1},
        {"lr_ref_batch", 128},
        {"momentum", 0.9},
        {"nesterov", false},
        {"weight_decay", 1e-4},
        {"no_decay_bn_bias", false},
        {"schedule", "multistep"},
        {"milestones", {5, 8}},
        {"gamma", 0.1},
        {"warmup_epochs", 0},
        {"label_smoothing", 0.0},
        {"zero_init_residual", false},
        {"amp", "none"},
        {"channels_last", false}}},
      // Note [The fast recipe]: large batch with a one-cycle schedule (Smith & Topin 2019:
      // super-convergence), Nesterov momentum, label smoothing 0.1, weight decay 5e-4 on the
      // weights only, the last BN of each block zero-initialised (Goyal et al. 2017), bf16
      // where native and channels_last: the ingredients of the fast CIFAR-10 training runs
      // (DAWNBench). Its target, >= 93% test accuracy in 10 epochs in <= 90 s on one H100, is
      // issue 5's; docs/performance.md says what has been measured of it.
      {"fast",
       "resnet50 in 10 epochs on one GPU: batch 512, one-cycle lr 0.4, Nesterov, label smoothing 0.1, "
       "weight decay 5e-4 not on BN/biases, zero-init residuals, bf16 where native, channels_last",
       {{"model", "resnet50"},
        {"epochs", 10},
        {"batch_size", 512},
        {"eval_batch_size", 1000},
        {"lr", 0.4},
        {"lr_ref_batch", 512},
        {"momentum", 0.9},
        {"nesterov", true},
        {"weight_decay", 5e-4},
        {"no_decay_bn_bias", true},
        {"schedule", "onecycle"},
        {"warmup_epochs", 0},
        {"label_smoothing", 0.1},
        {"zero_init_residual", true},
        {"amp", "auto"},
        {"channels_last", true}}},
  };
  return all;
}

std::vector<std::string> recipe_names() {
  std::vector<std::string> names;
  for (const auto& r : recipes()) names.push_back(r.name);
  return names;
}

nlohmann::json recipe_options(const std::string& name) {
  for (const auto& r : recipes()) {
    if (r.name != name) continue;
    auto options = r.options;
    options["recipe"] = name;
    return options;
  }
  throw UserError(fmt::format("unknown --recipe '{}': use one of {}", name, fmt::join(recipe_names(), ", ")));
}

}  // namespace rt
