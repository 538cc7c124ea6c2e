// FusedSgd (one fused kernel per parameter group) against torch::optim::SGD (a loop of
// per-parameter kernels) on the CPU: the same weights and momentum buffers, up to the fused
// kernel's single rounding of momentum x buffer + gradient (Note [Fused step]), which moves
// an element by one unit in the last place now and then: compared to 1e-6 relative.
#include <gtest/gtest.h>

#include "model/registry.h"
#include "train/optimizer.h"

namespace rt {

namespace {

struct Case {
  const char* name;
  double momentum, weight_decay;
  bool nesterov, two_groups;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }  // test names without raw bytes

// Gradients of a fixed batch; `poison` puts a NaN into the first gradient (a non-finite step).
void backward(Classifier& model, int64_t step, bool poison) {
  torch::manual_seed(1000 + step);
  const auto x = torch::randn({4, 3, 32, 32});
  const auto y = torch::randint(10, {4}, torch::kInt64);
  for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
  torch::nn::functional::cross_entropy(model.forward(x), y).backward();
  if (poison) model.parameters().front().mutable_grad().view(-1)[0] = NAN;
}

void expect_same(Classifier& a, Classifier& b, const std::string& what) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  double worst = 0;
  int64_t unequal = 0, total = 0;
  for (const auto& p : pa) {
    const auto& q = pb[p.key()];
    const double scale = std::max(p.value().abs().max().item<double>(), 1e-3);
    const double diff = (p.value() - q).abs().max().item<double>();
    worst = std::max(worst, diff / scale);
    unequal += p.value().ne(q).sum().item<int64_t>();
    total += p.value().numel();
    EXPECT_LE(diff, 1e-6 * scale) << what << ": " << p.key();
  }
  std::cout << what << ": max |difference| / scale " << worst << ", " << unequal << " of " << total
            << " weights not bitwise equal\n";
}

}  // namespace

class FusedSgdVsLoop : public ::testing::TestWithParam<Case> {};

TEST_P(FusedSgdVsLoop, SameWeights) {
  const Case c = GetParam();
  Config cfg;
  cfg.lr = 0.1;
  cfg.momentum = c.momentum;
  cfg.nesterov = c.nesterov;
  cfg.weight_decay = c.weight_decay;
  cfg.no_decay_bn_bias = c.two_groups;
  torch::manual_seed(7);
  auto fused_model = make_model("resnet20", 10);
  auto loop_model = make_model("resnet20", 10);
  {
    torch::NoGradGuard no_grad;
    auto src = fused_model->parameters(), dst = loop_model->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  auto fused = make_sgd(*fused_model, cfg);
  ASSERT_EQ(fused->param_groups().size(), c.two_groups ? 2u : 1u);
  // The reference: torch::optim::SGD with the same groups and options.
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (size_t g = 0; g < fused->param_groups().size(); ++g) {
    const auto& fg = fused->param_groups()[g];
    std::vector<torch::Tensor> params;
    auto all_f = fused_model->parameters(), all_l = loop_model->parameters();
    for (const auto& p : fg.params()) {
      for (size_t i = 0; i < all_f.size(); ++i)
        if (all_f[i].is_same(p)) params.push_back(all_l[i]);
    }
    groups.emplace_back(params, fg.options().clone());
  }
  torch::optim::SGD loop(groups, torch::optim::SGDOptions(cfg.lr));
  for (int64_t step = 0; step < 6; ++step) {
    const bool skipped = step == 3;  // a non-finite step: the loop reference skips its call
    const double lr = 0.1 / (1 + step);
    set_learning_rate(*fused, lr);
    set_learning_rate(loop, lr);
    backward(*fused_model, step, skipped);
    backward(*loop_model, step, false);
    const auto found_inf = nonfinite_flag(torch::tensor(1.0f), [&] {
      std::vector<torch::Tensor> g;
      for (auto& p : fused_model->parameters()) g.push_back(p.grad());
      return g;
    }());
    EXPECT_EQ(found_inf.item<float>(), skipped ? 1.0f : 0.0f);
    fused->set_found_inf(found_inf);
    fused->step();
    if (!skipped) loop.step();
  }
  expect_same(*fused_model, *loop_model, c.name);
  // Momentum buffers live in SGD's own state, as the loop's do (the checkpoint format).
  if (c.momentum == 0) {
    EXPECT_TRUE(loop.state().empty());
  }
  EXPECT_EQ(fused->state().size(), loop.state().size());
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedSgdVsLoop,
                         ::testing::Values(Case{"plain", 0.0, 0.0, false, false},
                                           Case{"momentum", 0.9, 0.0, false, false},
                                           Case{"momentum_weight_decay", 0.9, 1e-4, false, false},
                                           Case{"nesterov_weight_decay", 0.9, 5e-4, true, false},
                                           Case{"two_groups", 0.9, 5e-4, true, true}),
                         [](const auto& info) { return std::string(info.param.name); });

// A first step that is skipped leaves no trace: the weights stay, and the next step acts as
// a first step (Note [Fused step]).
TEST(FusedSgd, SkippedFirstStepThenLikeAFirstStep) {
  Config cfg;
  torch::manual_seed(7);
  auto a = make_model("resnet20", 10), b = make_model("resnet20", 10);
  {
    torch::NoGradGuard no_grad;
    auto src = a->parameters(), dst = b->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  auto opt_a = make_sgd(*a, cfg), opt_b = make_sgd(*b, cfg);
  const auto before = a->parameters().front().clone();
  backward(*a, 0, true);
  opt_a->set_found_inf(torch::ones({1}));
  opt_a->step();
  EXPECT_TRUE(torch::equal(a->parameters().front(), before));
  opt_a->set_found_inf(torch::zeros({1}));
  backward(*a, 1, false);
  opt_a->step();
  backward(*b, 1, false);
  opt_b->step();
  expect_same(*a, *b, "skipped first step");
}

TEST(FusedSgd, NonfiniteFlagSeesTheLossAndEveryGradient) {
  const std::vector<torch::Tensor> finite = {torch::ones({3}), torch::zeros({2, 2})};
  EXPECT_EQ(nonfinite_flag(torch::tensor(0.5f), finite).item<float>(), 0.0f);
  EXPECT_EQ(nonfinite_flag(torch::tensor(INFINITY), finite).item<float>(), 1.0f);
  auto bad = finite;
  bad[1] = torch::tensor({{1.0f, 2.0f}, {-INFINITY, 0.0f}});
  EXPECT_EQ(nonfinite_flag(torch::tensor(0.5f), bad).item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(bad[0], torch::ones({3})));  // the check leaves gradients as they are
}

// --bn-bias-lr-mult as Jordan 2024 sets up torch.optim.SGD: the BatchNorm biases in a group of
// their own at 64x the learning rate and weight decay / 64 (the same decay per step). The
// reference picks them by name (resnet20's bn1, bn2 ... .bias), as the paper picks "norm".
TEST(FusedSgd, BatchNormBiasesLearnAtTheirMultipleAsThePapersGroups) {
  Config cfg;
  cfg.lr = 0.05;
  cfg.momentum = 0.85;
  cfg.nesterov = true;
  cfg.weight_decay = 5e-3;
  cfg.bn_bias_lr_mult = 64;
  torch::manual_seed(7);
  auto fused_model = make_model("resnet20", 10), loop_model = make_model("resnet20", 10);
  std::vector<torch::Tensor> bn_biases, others;
  {
    torch::NoGradGuard no_grad;
    auto src = fused_model->parameters();
    auto dst = loop_model->named_parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].value().copy_(src[i]);
    for (const auto& p : dst) {
      const std::string& n = p.key();
      const bool bn_bias = n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0 &&
                           (n.rfind("bn", 0) == 0 || n.find(".bn") != std::string::npos);
      (bn_bias ? bn_biases : others).push_back(p.value());
    }
  }
  ASSERT_EQ(bn_biases.size(), 19u);  // resnet20: bn1 and two per block of nine
  auto fused = make_sgd(*fused_model, cfg);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(
      bn_biases,
      std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(64 * cfg.lr).momentum(0.85).nesterov(true).weight_decay(cfg.weight_decay / 64)));
  groups.emplace_back(
      others, std::make_unique<torch::optim::SGDOptions>(
                  torch::optim::SGDOptions(cfg.lr).momentum(0.85).nesterov(true).weight_decay(cfg.weight_decay)));
  torch::optim::SGD loop(groups, torch::optim::SGDOptions(cfg.lr));
  for (int64_t step = 0; step < 4; ++step) {
    const double lr = cfg.lr / (1 + step);
    fused->set_lr(lr, 0);
    loop.param_groups()[0].options().set_lr(64 * lr);
    loop.param_groups()[1].options().set_lr(lr);
    backward(*fused_model, step, false);
    backward(*loop_model, step, false);
    fused->step();
    loop.step();
  }
  expect_same(*fused_model, *loop_model, "BatchNorm biases at 64x");
}

// --whiten-bias-epochs 2: airbench94's whitening bias learns in epochs 0 and 1, then stays.
TEST(FusedSgd, AWhiteningBiasStopsLearningAfterItsEpochs) {
  Config cfg;
  cfg.whiten_bias_epochs = 2;
  torch::manual_seed(3);
  auto model = make_model("airbench94", 10);
  auto sgd = make_sgd(*model, cfg);
  auto bias = model->named_parameters()["whiten.bias"];
  auto head = model->named_parameters()["head.weight"];
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    const auto bias_before = bias.clone(), head_before = head.clone();
    sgd->set_lr(0.1, epoch);
    backward(*model, epoch, false);
    sgd->step();
    EXPECT_EQ(torch::equal(bias, bias_before), epoch >= 2) << "epoch " << epoch;
    EXPECT_FALSE(torch::equal(head, head_before)) << "epoch " << epoch;
  }
}

}  // namespace rt
