// Lookahead over an exponential moving average of the weights (Jordan 2024, airbench94, section
// 3.5): every `every` optimiser steps the average moves toward the weights,
//   ema = ema + (1 - decay) (weights - ema),  decay = rate^every x (step / total steps)^power,
// and the weights are set to it; after the last step of the run the weights are the average's.
// Early on decay is near 0 (the average follows the weights); late in the run the weights are
// pulled back toward their recent past. It covers the floating-point parameters and buffers
// (BatchNorm's running statistics) in state_dict order, as the paper's LookaheadState does.
// Its state, the average, is checkpointed and resumed exactly (--ema-every, --ema-rate,
// --ema-power).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "model/classifier.h"

namespace rt {

class Lookahead {
 public:
  // The average starts at the model's weights (a fresh run; a resumed one loads its state).
  Lookahead(Classifier& model, int64_t every, double rate, double power, int64_t total_steps);
  // After optimiser step `step` (1-based, counted over the run): the update when its turn has
  // come, and at the last step the weights set to the average.
  void after_step(int64_t step);
  // The average under the names of the tensors it follows, for a checkpoint.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // Restores it from a checkpoint's; throws UserError unless every name, shape and dtype matches.
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& saved);
  // The decay of the update at `step` (the paper's alpha_schedule).
  double decay_at(int64_t step) const;

 private:
  void update(double decay);
  std::vector<std::string> names_;
  std::vector<torch::Tensor> weights_, average_;
  int64_t every_, total_steps_;
  double rate_, power_;
};

}  // namespace rt
