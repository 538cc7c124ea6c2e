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
       "weight decay 5e-4 not on BN/biases, zero-init residuals, bf16 where native, channels_last; untuned: "
       "84.1% in 54 s of training on an H200 with --cuda-graph (target: 93% in 90 s); docs/performance.md",
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
      // Note [The airbench94 recipe]: K. Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a
      // single GPU" (arXiv:2404.00498), the paper's hyperparameters in ringtrain's terms. Its lr
      // 11.5 and weight decay 0.0153 "per 1024 images, decoupled" act on the summed loss as
      // lr' = 11.5 / (1024 (1 + 1/(1 - 0.85))); on the mean loss of a batch of 1024 that is
      // lr = 11.5 (1 - 0.85) / (2 - 0.85) = 1.5, and a decay per step of 0.0153 / 11.5 x lr
      // makes --weight-decay 1.33e-3. Its 9.9 epochs of 48 whole batches (476 steps) become
      // 10 epochs of every image (490 steps, the last batch of each epoch 848 images).
      {"airbench94",
       "airbench94 (Jordan 2024) in 10 epochs: whitened 2M-parameter net, batch 1024, triangle lr, Nesterov 0.85, "
       "label smoothing 0.2, BN biases x64 lr, lookahead EMA, 2-px reflect translate, alternating flip, "
       "flip-translate TTA; 94.0% on the original CIFAR-10 (paper, GPU); on the JPEG copy of CIFAR-10, 90.6% in "
       "about 17 min on 2 AVX512-BF16 cores (bf16), 90.8% in 42 min on 2 AVX2 cores (fp32), 90.7% in 4.4-8.7 s of "
       "training on an H200; docs/performance.md",
       {{"model", "airbench94"},
        {"epochs", 10},
        {"batch_size", 1024},
        {"eval_batch_size", 1000},
        {"lr", 1.5},
        {"lr_ref_batch", 1024},
        {"momentum", 0.85},
        {"nesterov", true},
        {"weight_decay", 0.0153 / 11.5},
        {"no_decay_bn_bias", false},
        {"bn_bias_lr_mult", 64.0},
        {"whiten_bias_epochs", 3},
        {"schedule", "triangle"},
        {"triangle_start", 0.2},
        {"triangle_peak", 0.23},
        {"triangle_end", 0.07},
        {"warmup_epochs", 0},
        {"label_smoothing", 0.2},
        {"ema_every", 5},
        {"ema_rate", 0.95},
        {"ema_power", 3.0},
        {"augment", true},
        {"translate", 2},
        {"pad_mode", "reflect"},
        {"flip", "alternate"},
        {"tta", "flip-translate"},
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
