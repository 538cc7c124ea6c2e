// SGD as the reference trains: momentum (optionally Nesterov) and weight decay, with an option
// to exempt BatchNorm parameters and biases (1-d tensors) from weight decay.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "core/config.h"
#include "model/classifier.h"

namespace rt {

std::unique_ptr<torch::optim::SGD> make_sgd(Classifier& model, const Config& c);

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

}  // namespace rt
