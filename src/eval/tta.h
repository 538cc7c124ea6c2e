// Test-time augmentation (--tta): the logits of an image as a weighted mean of the logits of
// transformed copies, as Jordan 2024 (arXiv:2404.00498, section 3.7) evaluates airbench94:
//   none            the image
//   flip            1/2 (image) + 1/2 (its mirror)
//   flip-translate  1/2 flip(image) + 1/4 flip(shifted up-left) + 1/4 flip(shifted down-right),
//                   each shift by one pixel with reflect padding: six passes, weights 1/4, 1/4,
//                   1/8, 1/8, 1/8, 1/8.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace rt {

enum class Tta { kNone, kFlip, kFlipTranslate };

// "none" | "flip" | "flip-translate"; UserError naming the choices for anything else.
Tta parse_tta(const std::string& name);
std::string tta_name(Tta tta);

// One transformed copy of a batch [N, C, H, W] and its weight in the mean.
struct TtaView {
  torch::Tensor images;
  double weight;
};

// The copies `tta` averages over, in the order above; their weights sum to 1.
std::vector<TtaView> tta_views(const torch::Tensor& images, Tta tta);

// The weighted mean of `forward` over the views, accumulated in float32 (the mean of the
// transformed passes). `forward` maps a batch to its logits [N, classes].
torch::Tensor tta_logits(const std::function<torch::Tensor(const torch::Tensor&)>& forward, const torch::Tensor& images,
                         Tta tta);

}  // namespace rt
