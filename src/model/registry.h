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

// Builds a freshly initialised model. Throws UserError listing the choices for an unknown name.
std::shared_ptr<Classifier> make_model(const std::string& name, int64_t num_classes, bool zero_init_residual = false);

// Throws UserError if `name` is not in the catalogue.
void check_model_name(const std::string& name);

}  // namespace rt
