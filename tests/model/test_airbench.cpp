// The airbench94 network (model/airbench.h): its whitening layer against a patch covariance
// computed by explicit loops and against the defining property of whitening, its identity
// initialisation, shapes and parameter count. (The whitening filters against Python's
// eigen-decomposition of the paper's code: tests/integration/airbench_whitening.sh.)
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "model/airbench.h"
#include "model/registry.h"

namespace rt {

namespace {

// Images whose 2x2 patches have a covariance with well separated eigenvalues: smooth random
// fields (neighbouring pixels correlated) with channels of different scales, plus noise.
torch::Tensor correlated_images(int64_t n, int64_t side, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  auto coarse = torch::randn({n, 3, side / 2 + 1, side / 2 + 1}, torch::kFloat64);
  auto smooth = torch::nn::functional::interpolate(coarse, torch::nn::functional::InterpolateFuncOptions()
                                                               .size(std::vector<int64_t>{side, side})
                                                               .mode(torch::kBilinear)
                                                               .align_corners(true));
  const auto scale = torch::tensor({1.0, 0.6, 0.3}, torch::kFloat64).view({1, 3, 1, 1});
  return smooth * scale + 0.05 * torch::randn({n, 3, side, side}, torch::kFloat64);
}

}  // namespace

TEST(Airbench, PatchCovarianceIsTheMeanOuterProductOfEveryPatch) {
  const auto images = correlated_images(3, 5, 1);
  const int64_t k = 2, d = 3 * k * k;
  auto expected = torch::zeros({d, d}, torch::kFloat64);
  int64_t count = 0;
  for (int64_t i = 0; i < images.size(0); ++i) {
    for (int64_t y = 0; y + k <= 5; ++y) {
      for (int64_t x = 0; x + k <= 5; ++x) {
        // The flattening order of a conv filter [C, k, k]: channel, then row, then column.
        const auto v = images[i].narrow(1, y, k).narrow(2, x, k).reshape({d, 1});
        expected += v.mm(v.t());
        ++count;
      }
    }
  }
  expected /= static_cast<double>(count);
  EXPECT_TRUE(torch::allclose(patch_covariance(images, k), expected, 1e-12, 1e-12));
}

TEST(Airbench, WhiteningFiltersWhitenThePatchesAndComeInOppositePairs) {
  const auto images = correlated_images(64, 16, 2);
  const auto covariance = patch_covariance(images, 2);
  const double eps = 5e-4;
  const auto w = whitening_weights(covariance, 3, 2, eps);
  ASSERT_EQ(w.sizes(), torch::IntArrayRef({24, 3, 2, 2}));
  const auto first = w.narrow(0, 0, 12).reshape({12, 12});
  EXPECT_TRUE(torch::equal(w.narrow(0, 12, 12).reshape({12, 12}), -first));
  // The filters' responses to the patches are uncorrelated, each of variance l / (l + eps)
  // for its eigenvalue l, in decreasing order of l.
  const auto response = first.mm(covariance).mm(first.t());
  const auto eigenvalues = std::get<0>(torch::linalg_eigh(covariance, "U")).flip(0);
  const auto expected = torch::diag(eigenvalues / (eigenvalues + eps));
  EXPECT_TRUE(torch::allclose(response, expected, 1e-9, 1e-9)) << response;
  EXPECT_GT(eigenvalues[0].item<double>(), 10 * eigenvalues[11].item<double>());
}

TEST(Airbench, TheNetworkHasThePapersShapesAndIdentityInitialisation) {
  auto model = make_model("airbench94", 10);
  // whiten 24x3x2x2 + 24; groups (conv1, norm1, conv2, norm2) at 64, 256, 256; head 256x10
  int64_t expected = 24 * 3 * 2 * 2 + 24;
  int64_t in = 24;
  for (const int64_t out : {64, 256, 256}) {
    expected += out * in * 9 + 2 * out + out * out * 9 + 2 * out;
    in = out;
  }
  expected += 256 * 10;
  EXPECT_EQ(count_parameters(*model), expected);
  EXPECT_EQ(expected, 1972792);
  // Frozen: the whitening filters and BatchNorm's weights (6 x 1 per channel).
  int64_t trainable = 0;
  for (const auto& p : trainable_parameters(*model)) trainable += p.numel();
  EXPECT_EQ(trainable, expected - 24 * 3 * 2 * 2 - 2 * (64 + 256 + 256));
  const auto params = model->named_parameters();
  const auto conv = params["group2.conv1.weight"];  // 256 x 64 x 3 x 3: the first 64 filters pass through
  auto dirac = torch::zeros({64, 64, 3, 3});
  for (int64_t c = 0; c < 64; ++c) dirac[c][c][1][1] = 1;
  EXPECT_TRUE(torch::equal(conv.narrow(0, 0, 64), dirac));
  EXPECT_FALSE(torch::equal(conv.narrow(0, 64, 64), torch::zeros({64, 64, 3, 3})));
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(torch::randn({2, 3, 32, 32})).sizes(), torch::IntArrayRef({2, 10}));
}

TEST(Airbench, InitialisingFromTheDataSetsTheWhiteningFiltersOnly) {
  auto model = make_model("airbench94", 10);
  ASSERT_TRUE(model->initialises_from_data());
  const auto before = model->named_parameters()["group1.conv1.weight"].clone();
  const auto images = correlated_images(8, 32, 3).to(torch::kFloat32);
  model->initialise_from_data(images);
  const auto expected = whitening_weights(patch_covariance(images, 2), 3, 2).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(model->named_parameters()["whiten.weight"], expected));
  EXPECT_TRUE(torch::equal(model->named_parameters()["group1.conv1.weight"], before));
  EXPECT_FALSE(make_model("resnet20", 10)->initialises_from_data());
}

// Closed to gradients, the whitening layer gets none and every other parameter the same
// gradient to the bit: backward only stops earlier (what --whiten-bias-epochs relies on).
TEST(Airbench, AClosedWhiteningLayerGetsNoGradientAndTheRestTheSame) {
  const auto images = correlated_images(4, 32, 5).to(torch::kFloat32);
  const auto labels = torch::tensor({1, 3, 5, 7}, torch::kLong);
  std::map<std::string, torch::Tensor> grads[2];
  for (const bool trainable : {true, false}) {
    torch::manual_seed(0);
    auto model = make_model("airbench94", 10);
    model->initialise_from_data(images);
    model->set_whitening_trainable(trainable);
    torch::nn::functional::cross_entropy(model->forward(images), labels).backward();
    for (const auto& item : model->named_parameters()) grads[trainable ? 0 : 1][item.key()] = item.value().grad();
  }
  EXPECT_TRUE(grads[0]["whiten.bias"].defined());
  EXPECT_FALSE(grads[1]["whiten.bias"].defined());
  EXPECT_FALSE(grads[1]["whiten.weight"].defined());
  for (const auto& [name, g] : grads[0]) {
    const bool norm_weight = name.find(".norm") != std::string::npos && name.find(".weight") != std::string::npos;
    if (name.rfind("whiten.", 0) == 0 || norm_weight)
      continue;  // the whitening layer, and BatchNorm's weights (fixed at 1, never trained)
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_TRUE(torch::equal(g, grads[1][name])) << name;
  }
}

}  // namespace rt
