// Evaluation of a model on a split: mean cross-entropy loss, accuracy and the confusion matrix.
#pragma once

#include <torch/torch.h>

#include "data/dataset.h"
#include "eval/metrics.h"
#include "model/classifier.h"

namespace rt {

struct EvalResult {
  double loss_sum = 0;      // summed cross-entropy over samples (no label smoothing)
  int64_t samples = 0;
  ConfusionMatrix confusion;
  double loss() const { return samples ? loss_sum / static_cast<double>(samples) : 0.0; }
  double accuracy() const;
};

// Runs `model` in eval mode (running BN statistics, no grad) over `indices` of `data`
// (all of it when empty) in batches of `batch_size` on `device`.
EvalResult evaluate(Classifier& model, const Dataset& data, int64_t batch_size,
                    const torch::Device& device, const std::vector<int64_t>& indices = {});

// Adds the outcomes of one batch: logits [B, C], labels [B].
void accumulate_confusion(ConfusionMatrix& counts, const torch::Tensor& logits,
                          const torch::Tensor& labels);

}  // namespace rt
