// The model zoo against torchvision (fixture from scripts/make_fixtures.py) and closed-form
// counts for the CIFAR ResNets.
#include <gtest/gtest.h>

#include "model/registry.h"
#include "test_util.h"

namespace rt {

namespace {

// He et al. 2016 CIFAR ResNet with n blocks per stage, option-A shortcuts (no parameters):
// conv1 3x3x3x16 + BN; per block two 3x3 convs and two BNs (2 parameters per channel each);
// fc 64 -> classes.
int64_t cifar_resnet_params(int64_t n, int64_t classes) {
  int64_t p = 3 * 16 * 9 + 2 * 16;
  int64_t in = 16;
  for (int64_t width : {16, 32, 64}) {
    for (int64_t b = 0; b < n; ++b) {
      p += in * width * 9 + width * width * 9 + 4 * width;
      in = width;
    }
  }
  return p + 64 * classes + classes;
}

}  // namespace

TEST(Models, TorchvisionParameterCountsMatchPython) {
  const auto ref = test::read_reference("torchvision_resnets.json");
  for (const auto& [key, count] : ref.at("param_counts").items()) {
    const auto slash = key.find('/');
    const auto model = make_model(key.substr(0, slash), std::stoll(key.substr(slash + 1)));
    EXPECT_EQ(count_parameters(*model), count.get<int64_t>()) << key;
  }
  EXPECT_EQ(count_parameters(*make_model("resnet50", 10)), 23520842);
}

TEST(Models, StateDictKeysAndShapesMatchTorchvision) {
  const auto ref = test::read_reference("torchvision_resnets.json");
  for (const auto& [name, entries] : ref.at("state_dict").items()) {
    const auto model = make_model(name, 10);
    std::map<std::string, std::vector<int64_t>> ours;
    for (const auto& p : model->named_parameters()) ours[p.key()] = p.value().sizes().vec();
    for (const auto& b : model->named_buffers()) ours[b.key()] = b.value().sizes().vec();
    EXPECT_EQ(ours.size(), entries.size()) << name;
    for (const auto& e : entries) {
      const auto key = e.at(0).get<std::string>();
      ASSERT_TRUE(ours.count(key)) << name << " lacks " << key;
      EXPECT_EQ(ours[key], e.at(1).get<std::vector<int64_t>>()) << name << " " << key;
    }
  }
}

TEST(Models, CifarResNetCountsMatchClosedForm) {
  const std::map<std::string, int64_t> depth_n = {
      {"resnet20", 3}, {"resnet32", 5}, {"resnet44", 7}, {"resnet56", 9}, {"resnet110", 18}};
  for (const auto& [name, n] : depth_n) {
    EXPECT_EQ(count_parameters(*make_model(name, 10)), cifar_resnet_params(n, 10)) << name;
  }
  EXPECT_EQ(cifar_resnet_params(3, 10), 269722);  // "0.27M" in He et al. 2016, table 6
}

TEST(Models, EveryModelMapsImagesToLogits) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 32, 32});
  for (const auto& info : model_catalogue()) {
    const auto model = make_model(info.name, 7);
    model->eval();
    const auto y = model->forward(x);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 7})) << info.name;
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << info.name;
    EXPECT_EQ(model->arch(), info.name);
  }
}

TEST(Models, ZeroInitResidualZeroesLastBatchNormOfEachBlock) {
  const auto plain = make_model("resnet50", 10, false), zeroed = make_model("resnet50", 10, true);
  auto p = zeroed->named_parameters();
  EXPECT_EQ(p["layer1.0.bn3.weight"].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(p["layer4.2.bn3.weight"].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(p["layer1.0.bn2.weight"].min().item<double>(), 1.0);
  EXPECT_EQ(plain->named_parameters()["layer1.0.bn3.weight"].min().item<double>(), 1.0);
  auto r = make_model("resnet20", 10, true)->named_parameters();
  EXPECT_EQ(r["layer2.1.bn2.weight"].abs().sum().item<double>(), 0.0);
}

TEST(Models, KaimingFanOutInitOfTorchvision) {
  torch::manual_seed(0);
  const auto model = make_model("resnet50", 10);
  // kaiming_normal_(mode=fan_out, relu): std = sqrt(2 / (out_channels * k * k)).
  const auto w = model->named_parameters()["layer3.0.conv2.weight"];  // 256x256x3x3
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / (256 * 9)), 0.002);
}

TEST(Models, UnknownNameListsChoices) {
  try {
    make_model("resnet51", 10);
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("resnet50"), std::string::npos);
  }
}

}  // namespace rt
