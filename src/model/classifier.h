// The interface every model implements: images [B, 3, H, W] float -> logits [B, classes].
#pragma once

#include <torch/torch.h>

#include <string>

namespace rt {

class Classifier : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual std::string arch() const = 0;  // registry name, e.g. "resnet50"
  virtual int64_t num_classes() const = 0;
};

// Number of trainable parameters (what torchvision users count with p.numel()).
int64_t count_parameters(const torch::nn::Module& m);

}  // namespace rt
