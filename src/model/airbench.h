// The airbench94 network (K. Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU",
// arXiv:2404.00498, section 3), written from the paper:
//   whiten: a 2x2 convolution, 3 -> 24 channels, no padding, initialised from the training
//           images' 2x2 patch covariance (its 12 eigenvectors scaled by 1/sqrt(eigenvalue + eps),
//           and their negatives) and frozen; its bias is trained (train/ may stop that)
//   GELU
//   three groups, widths 64, 256, 256, each:
//           conv 3x3 -> max-pool 2 -> BatchNorm -> GELU -> conv 3x3 -> BatchNorm -> GELU
//           (the convolutions without bias, their first `in` filters initialised as the
//           identity (Dirac), the rest as PyTorch's default; BatchNorm without a trained weight
//           (fixed at 1), eps 1e-12, momentum 0.4 in PyTorch's sense (0.6 in the paper's))
//   max over the remaining 3x3 positions -> linear head (no bias) -> x 1/9
// Names follow the reference implementation's nn.Sequential indices where they can, so that a
// state_dict maps over: whiten, group1..3 (conv1, norm1, conv2, norm2), head.
#pragma once

#include "model/batchnorm.h"
#include "model/classifier.h"

namespace rt {

// The second moment of every k x k patch of `images` [N, C, H, W] at stride 1, flattened to
// C*k*k values (their mean not subtracted, as the paper does): [C*k*k, C*k*k] float64, summed
// over a few hundred images at a time (5,000 CIFAR images have 4.8 million patches).
torch::Tensor patch_covariance(const torch::Tensor& images, int64_t k);
// The whitening filters of that covariance: its eigenvectors as filters [C*k*k, C, k, k] in
// order of decreasing eigenvalue, each divided by sqrt(eigenvalue + eps), then the same
// filters negated: [2*C*k*k, C, k, k] float64.
torch::Tensor whitening_weights(const torch::Tensor& covariance, int64_t channels, int64_t k, double eps = 5e-4);

class AirbenchNet : public Classifier {
 public:
  static constexpr int64_t kWhitenKernel = 2;
  static constexpr int64_t kWhitenWidth = 2 * 3 * kWhitenKernel * kWhitenKernel;  // 24
  static constexpr double kHeadScale = 1.0 / 9;

  explicit AirbenchNet(int64_t num_classes, std::vector<int64_t> widths = {64, 256, 256});
  torch::Tensor forward(torch::Tensor x) override;
  std::string arch() const override { return "airbench94"; }
  int64_t num_classes() const override { return num_classes_; }
  bool initialises_from_data() const override { return true; }
  // The whitening filters from `images`' patches (the paper uses 5,000 training images; the
  // trainer draws them with the seed, data/augment.h sample_images).
  void initialise_from_data(const torch::Tensor& images) override;
  std::vector<torch::Tensor> whitening_parameters() override { return {whiten->bias}; }
  void set_whitening_trainable(bool trainable) override { whitening_trainable_ = trainable; }

  torch::nn::Conv2d whiten{nullptr};

 private:
  int64_t num_classes_;
  bool whitening_trainable_ = true;
  torch::nn::Sequential group1{nullptr}, group2{nullptr}, group3{nullptr};
  torch::nn::Linear head{nullptr};
};

}  // namespace rt
