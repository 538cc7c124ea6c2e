#include "model/registry.h"

#include "core/errors.h"
#include "model/cifar_resnet.h"
#include "model/resnet.h"

namespace rt {

namespace {

struct Entry {
  ModelInfo info;
  bool torchvision;          // TorchvisionResNet or CifarResNet
  ResNetSpec spec;           // torchvision
  int64_t blocks_per_stage;  // CIFAR ResNet: n, depth 6n+2
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {{"resnet20", "He et al. 2016 CIFAR ResNet, 20 layers, option-A shortcuts"}, false, {}, 3},
      {{"resnet32", "He et al. 2016 CIFAR ResNet, 32 layers, option-A shortcuts"}, false, {}, 5},
      {{"resnet44", "He et al. 2016 CIFAR ResNet, 44 layers, option-A shortcuts"}, false, {}, 7},
      {{"resnet56", "He et al. 2016 CIFAR ResNet, 56 layers, option-A shortcuts"}, false, {}, 9},
      {{"resnet110", "He et al. 2016 CIFAR ResNet, 110 layers, option-A shortcuts"}, false, {}, 18},
      {{"resnet18", "torchvision ResNet-18 (stem: CIFAR 3x3 s1, or ImageNet 7x7 s2 + max-pool)"},
       true,
       {"resnet18", false, {2, 2, 2, 2}},
       0},
      {{"resnet34", "torchvision ResNet-34, CIFAR stem"}, true, {"resnet34", false, {3, 4, 6, 3}}, 0},
      {{"resnet50", "torchvision ResNet-50, CIFAR stem (the reference model)"},
       true,
       {"resnet50", true, {3, 4, 6, 3}},
       0},
      {{"resnet101", "torchvision ResNet-101, CIFAR stem"}, true, {"resnet101", true, {3, 4, 23, 3}}, 0},
      {{"resnet152", "torchvision ResNet-152, CIFAR stem"}, true, {"resnet152", true, {3, 8, 36, 3}}, 0},
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
  if (e.torchvision) {
    return std::make_shared<TorchvisionResNet>(e.spec, num_classes, zero_init_residual,
                                               stem == "imagenet" ? Stem::kImageNet : Stem::kCifar);
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
  return image_size > 64 && e != nullptr && e->torchvision ? "imagenet" : "cifar";
}

}  // namespace rt
