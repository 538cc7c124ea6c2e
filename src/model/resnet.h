// torchvision's ResNet-18/34/50/101/152 (He et al. 2015, "v1.5": stride on the 3x3 conv of
// the bottleneck) with either stem: CIFAR's (a 3x3 stride-1 first conv, no max-pool: for 32x32
// images) or ImageNet's, torchvision's own (a 7x7 stride-2 conv and a 3x3 stride-2 max-pool,
// a quarter of the side before layer1: for large images). Module and
// parameter names equal torchvision's state_dict keys (conv1.weight, layer1.0.bn1.running_mean,
// layer2.0.downsample.0.weight, fc.bias, ...), so weights can be exchanged with Python.
#pragma once

#include <vector>

#include "model/batchnorm.h"
#include "model/classifier.h"

namespace rt {

enum class Stem { kCifar, kImageNet };

struct ResNetSpec {
  std::string name;             // resnet18 ... resnet152
  bool bottleneck = false;      // BasicBlock (18/34) or Bottleneck (50/101/152)
  std::vector<int64_t> blocks;  // blocks per stage, 4 stages
};

class TorchvisionResNet : public Classifier {
 public:
  TorchvisionResNet(const ResNetSpec& spec, int64_t num_classes, bool zero_init_residual, Stem stem);
  torch::Tensor forward(torch::Tensor x) override;
  std::string arch() const override { return spec_.name; }
  int64_t num_classes() const override { return num_classes_; }

 private:
  ResNetSpec spec_;
  int64_t num_classes_;
  Stem stem_;
  torch::nn::Conv2d conv1{nullptr};
  BatchNorm bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};

}  // namespace rt
