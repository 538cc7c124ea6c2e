// The CIFAR ResNets of He et al. 2016 ("Deep Residual Learning", section 4.2): resnet20/32/
// 44/56/110 = 6n+2 layers, three stages of n BasicBlocks at widths 16/32/64, option-A
// (parameter-free) shortcuts: stride-2 subsampling and zero-padded channels. Names follow the
// widely used reference implementation (akamaster/pytorch_resnet_cifar10): conv1, bn1,
// layer1..3, linear. resnet20 has 0.27M parameters: the small, fast models for CPU work.
#pragma once

#include "model/batchnorm.h"
#include "model/classifier.h"

namespace rt {

class CifarResNet : public Classifier {
 public:
  CifarResNet(std::string name, int64_t blocks_per_stage, int64_t num_classes, bool zero_init_residual);
  torch::Tensor forward(torch::Tensor x) override;
  std::string arch() const override { return name_; }
  int64_t num_classes() const override { return num_classes_; }

 private:
  std::string name_;
  int64_t num_classes_;
  torch::nn::Conv2d conv1{nullptr};
  BatchNorm bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr};
  torch::nn::Linear linear{nullptr};
};

}  // namespace rt
