// bf16 autocast and channels_last: same model, same answers within the format's precision.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include "core/errors.h"
#include "model/precision.h"
#include "model/registry.h"

namespace rt {
namespace {

TEST(Precision, NamesResolve) {
  EXPECT_EQ(resolve_precision("none", torch::kCPU), Precision::kFloat32);
  EXPECT_EQ(resolve_precision("fp32", torch::kCPU), Precision::kFloat32);
  EXPECT_EQ(resolve_precision("bf16", torch::kCPU), Precision::kBFloat16);
  EXPECT_EQ(resolve_precision("auto", torch::kCPU),
            bf16_native(torch::kCPU) ? Precision::kBFloat16 : Precision::kFloat32);
  EXPECT_THROW(resolve_precision("fp8", torch::kCPU), UserError);
}

TEST(Precision, AutocastGuardIsScopedAndNests) {
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    AutocastGuard outer(torch::kCPU, Precision::kBFloat16);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(at::autocast::get_autocast_dtype(at::kCPU), at::kBFloat16);
    auto w = torch::randn({8, 8});
    EXPECT_EQ(torch::mm(w, w).scalar_type(), torch::kBFloat16);  // matmul runs in bf16
    {
      AutocastGuard inner(torch::kCPU, Precision::kBFloat16);
      EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    }
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    AutocastGuard fp32(torch::kCPU, Precision::kFloat32);  // no-op
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  auto w = torch::randn({8, 8});
  EXPECT_EQ(torch::mm(w, w).scalar_type(), torch::kFloat32);
}

TEST(Precision, Bf16TrainingStepKeepsFloat32MasterWeights) {
  torch::manual_seed(0);
  auto model = make_model("resnet20", 10, false);
  auto x = torch::randn({4, 3, 32, 32});
  auto y = torch::randint(10, {4}, torch::kInt64);
  torch::Tensor fp32_logits, bf16_logits;
  {
    torch::NoGradGuard no_grad;
    model->eval();
    fp32_logits = model->forward(x);
    AutocastGuard autocast(torch::kCPU, Precision::kBFloat16);
    bf16_logits = model->forward(x).to(torch::kFloat32);
  }
  // bf16 keeps 8 bits of mantissa: logits agree to about 1e-2 relative.
  EXPECT_LT((bf16_logits - fp32_logits).abs().max().item<double>(),
            0.05 * fp32_logits.abs().max().item<double>() + 0.05);
  model->train();
  torch::Tensor loss;
  {
    AutocastGuard autocast(torch::kCPU, Precision::kBFloat16);
    loss = torch::nn::functional::cross_entropy(model->forward(x).to(torch::kFloat32), y);
  }
  loss.backward();
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  for (const auto& p : model->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
  }
}

TEST(Precision, ChannelsLastGivesTheSameLogits) {
  torch::manual_seed(1);
  auto a = make_model("resnet18", 10, false);
  auto b = make_model("resnet18", 10, false);
  {
    torch::NoGradGuard no_grad;
    auto pa = a->parameters(), pb = b->parameters();
    for (size_t i = 0; i < pa.size(); ++i) pb[i].copy_(pa[i]);
  }
  to_channels_last(*b);
  int converted = 0;
  for (const auto& p : b->parameters()) {
    if (p.dim() == 4) {
      EXPECT_TRUE(p.is_contiguous(torch::MemoryFormat::ChannelsLast));
      ++converted;
    }
  }
  EXPECT_EQ(converted, 20);  // every convolution of resnet18 (stem, 16 in blocks, 3 downsample)
  a->eval();
  b->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 32, 32});
  const auto la = a->forward(x), lb = b->forward(to_model_format(x, true));
  EXPECT_TRUE(torch::allclose(la, lb, 1e-4, 1e-4));
}

}  // namespace
}  // namespace rt
