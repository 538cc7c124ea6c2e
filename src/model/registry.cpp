#include "model/registry.h"

#include "core/errors.h"
#include "model/airbench.h"
#include "model/cifar_resnet.h"
#include "model/resnet.h"

namespace rt {

namespace {

enum class Family { kCifarResNet, kTorchvision, kAirbench };

struct Entry {
  ModelInfo info;
  Family family;
  ResNetSpec spec;           // torchvision
  int64_t blocks_per_stage;  // CIFAR ResNet: n, depth 6n+2
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {{"resnet20", "He et al. 2016 CIFAR ResNet, 20 layers, option-A shortcuts"}, Family::kCifarResNet, {}, 3},
      {{"resnet32", "He et al. 2016 CIFAR ResNet, 32 layers, option-A shortcuts"}, Family::kCifarResNet, {}, 5},
      {{"resnet44", "He et al. 2016 CIFAR ResNet, 44 layers, option-A shortcuts"}, Family::kCifarResNet, {}, 7},
      {{"resnet56", "He et al. 2016 CIFAR ResNet, 56 layers, option-A shortcuts"}, Family::kCifarResNet, {}, 9},
      {{"resnet110", "He et al. 2016 CIFAR ResNet, 110 layers, option-A shortcuts"}, Family::kCifarResNet, {}, 18},
      {{"resnet18", "torchvision ResNet-18 (stem: CIFAR 3x3 s1, or ImageNet 7x7 s2 + max-pool)"},
       Family::kTorchvision,
       {"resnet18", false, {2, 2, 2, 2}},
       0},
      {{"resnet34", "torchvision ResNet-34, CIFAR stem"}, Family::kTorchvision, {"resnet34", false, {3, 4, 6, 3}}, 0},
      {{"resnet50", "torchvision ResNet-50, CIFAR stem (the reference model)"},
       Family::kTorchvision,
       {"resnet50", true, {3, 4, 6, 3}},
       0},
      {{"resnet101", "torchvision ResNet-101, CIFAR stem"},
       Family::kTorchvision,
       {"resnet101", true, {3, 4, 23, 3}},
       0},
      {{"resnet152", "torchvision ResNet-152, CIFAR stem"},
       Family::kTorchvision,
       {"resnet152", true, {3, 8, 36, 3}},
       0},
      {{"airbench94",
        "K. Jordan 2024 airbench94: 2x2 patch-whitening conv from the data, 3 conv groups 64/256/256, GELU"},
       Family::kAirbench,
       {},
       0},
  };
  return e;
}

const Entry* find(const std::string& name) {
  for (const auto& e : entries()) {
    if (e.info.name == name) return &e;
  }
  return nullptr;
}

}  // namespace

const std::vector<ModelInfo>& model_catalogue() {
  static const std::vector<ModelInfo> infos = [] {
    std::vector<ModelInfo> v;
    for (const auto& e : entries()) v.push_back(e.info);
    return v;
  }();
  return infos;
}

void check_model_name(const std::string& name) {
  if (find(name)) return;
  std::string names;
  for (const auto& e : entries()) names += (names.empty() ? "" : ", ") + e.info.name;
  throw UserError(fmt::format("unknown model '{}'; choose one of: {} (see `ringtrain models`)", name, names));
}

std::shared_ptr<Classifier> make_model(const std::string& name, int64_t num_classes, bool zero_init_residual,
                                       const std::string& stem) {
  check_model_name(name);
  RT_CHECK_USER(stem == "cifar" || stem == "imagenet", "--stem {}: expected cifar or imagenet", stem);
  const Entry& e = *find(name);
  if (e.family == Family::kTorchvision) {
    return std::make_shared<TorchvisionResNet>(e.spec, num_classes, zero_init_residual,
                                               stem == "imagenet" ? Stem::kImageNet : Stem::kCifar);
  }
  if (e.family == Family::kAirbench) {
    RT_CHECK_USER(stem == "cifar", "{} has no ImageNet stem: it is made for 32x32 images (use --stem cifar)", name);
    RT_CHECK_USER(!zero_init_residual, "{} has no residual blocks: --zero-init-residual does not apply", name);
    return std::make_shared<AirbenchNet>(num_classes);
  }
  RT_CHECK_USER(stem == "cifar",
                "{} is a CIFAR ResNet and has no ImageNet stem; use --stem cifar, or a torchvision ResNet "
                "(resnet18 ... resnet152) for large images",
                name);
  return std::make_shared<CifarResNet>(name, e.blocks_per_stage, num_classes, zero_init_residual);
}

std::string resolve_stem(const std::string& stem, int64_t image_size, const std::string& model) {
  if (stem != "auto") return stem;
  const Entry* e = find(model);
  return image_size > 64 && e != nullptr && e->family == Family::kTorchvision ? "imagenet" : "cifar";
}

}  // namespace rt
