#include "eval/tta.h"

#include "core/errors.h"

namespace rt {

Tta parse_tta(const std::string& name) {
  if (name == "none") return Tta::kNone;
  if (name == "flip") return Tta::kFlip;
  if (name == "flip-translate") return Tta::kFlipTranslate;
  throw UserError(fmt::format("unknown test-time augmentation '{}': use none, flip or flip-translate", name));
}

std::string tta_name(Tta tta) {
  switch (tta) {
    case Tta::kNone:
      return "none";
    case Tta::kFlip:
      return "flip";
    case Tta::kFlipTranslate:
      return "flip-translate";
  }
  return "none";
}

std::vector<TtaView> tta_views(const torch::Tensor& images, Tta tta) {
  if (tta == Tta::kNone) return {{images, 1.0}};
  const auto mirrored = [](const torch::Tensor& x, double weight) -> std::vector<TtaView> {
    return {{x, weight / 2}, {x.flip({-1}), weight / 2}};
  };
  if (tta == Tta::kFlip) return mirrored(images, 1.0);
  // Shifted by one pixel each way along both axes: crops of the image reflect-padded by 1.
  namespace F = torch::nn::functional;
  const int64_t h = images.size(-2), w = images.size(-1);
  const auto padded = F::pad(images, F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReflect));
  const auto up_left = padded.slice(-2, 0, h).slice(-1, 0, w);
  const auto down_right = padded.slice(-2, 2, h + 2).slice(-1, 2, w + 2);
  std::vector<TtaView> views = mirrored(images, 0.5);
  for (const auto& shifted : {up_left, down_right}) {
    for (auto& v : mirrored(shifted, 0.25)) views.push_back(std::move(v));
  }
  return views;
}

torch::Tensor tta_logits(const std::function<torch::Tensor(const torch::Tensor&)>& forward, const torch::Tensor& images,
                         Tta tta) {
  torch::Tensor sum;
  for (const auto& v : tta_views(images, tta)) {
    const auto logits = forward(v.images).to(torch::kFloat32);
    if (tta == Tta::kNone) return logits;  // one pass: its logits unchanged
    sum = sum.defined() ? sum.add_(logits, v.weight) : logits.mul(v.weight);
  }
  return sum;
}

}  // namespace rt
