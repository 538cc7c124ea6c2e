// The model zoo: names, descriptions and construction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/classifier.h"

namespace rt {

struct ModelInfo {
  std::string name;         // e.g. "resnet50"
  std::string description;  // one line for `ringtrain models`
};

const std::vector<ModelInfo>& model_catalogue();

// Builds a freshly initialised model; `stem` "cifar" or "imagenet" (torchvision ResNets only).
// Throws UserError listing the choices for an unknown name, or for a stem the model lacks.
std::shared_ptr<Classifier> make_model(const std::string& name, int64_t num_classes, bool zero_init_residual = false,
                                       const std::string& stem = "cifar");

// --stem auto -> "imagenet" for a torchvision ResNet on inputs larger than 64 pixels, "cifar"
// otherwise (the CIFAR ResNets have no other); others as given.
std::string resolve_stem(const std::string& stem, int64_t image_size, const std::string& model);

// Throws UserError if `name` is not in the catalogue.
void check_model_name(const std::string& name);

}  // namespace rt
