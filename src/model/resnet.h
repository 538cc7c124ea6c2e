// torchvision's ResNet-18/34/50/101/152 (He et al. 2015, "v1.5": stride on the 3x3 conv of
// the bottleneck) with the CIFAR stem: a 3x3 stride-1 first conv and no max-pool. Module and
// parameter names equal torchvision's state_dict keys (conv1.weight, layer1.0.bn1.running_mean,
// layer2.0.downsample.0.weight, fc.bias, ...), so weights can be exchanged with Python.
#pragma once

#include <vector>

#include "model/batchnorm.h"
#include "model/classifier.h"

namespace rt {

struct ResNetSpec {
  std::string name;             // resnet18 ... resnet152
  bool bottleneck = false;      // BasicBlock (18/34) or Bottleneck (50/101/152)
  std::vector<int64_t> blocks;  // blocks per stage, 4 stages
};

class TorchvisionResNet : public Classifier {
 public:
  TorchvisionResNet(const ResNetSpec& spec, int64_t num_classes, bool zero_init_residual);
  torch::Tensor forward(torch::Tensor x) override;
  std::string arch() const override { return spec_.name; }
  int64_t num_classes() const override { return num_classes_; }

 private:
  ResNetSpec spec_;
  int64_t num_classes_;
  torch::nn::Conv2d conv1{nullptr};
  BatchNorm bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};

}  // namespace rt
