// Evaluation of a model on a split: mean cross-entropy loss, accuracy and the confusion matrix.
#pragma once

#include <torch/torch.h>

#include "data/dataset.h"
#include "eval/metrics.h"
#include "eval/tta.h"
#include "model/classifier.h"
#include "model/precision.h"
#include "parallel/communicator.h"

namespace rt {

struct EvalResult {
  double loss_sum = 0;  // summed cross-entropy over samples (no label smoothing)
  int64_t samples = 0;
  ConfusionMatrix confusion;
  torch::Tensor logits;  // [samples, classes] float32 on the CPU, in visiting order (keep_logits)
  torch::Tensor labels;  // [samples] int64 on the CPU, their labels (keep_logits; skipped files left out)
  double loss() const { return samples ? loss_sum / static_cast<double>(samples) : 0.0; }
  double accuracy() const;
};

// How an evaluation runs. Forward passes run under `precision`'s autocast with inputs in the
// model's memory format; `tta` averages the logits of transformed copies (eval/tta.h).
struct EvalSpec {
  int64_t batch_size = 500;
  Precision precision = Precision::kFloat32;
  bool channels_last = false;
  Tta tta = Tta::kNone;
  bool keep_logits = false;    // keep the logits and labels in the result
  int64_t loader_threads = 1;  // threads decoding image files
  bool skip_bad = false;       // leave out unreadable image files (not counted in `samples`)
};

// Runs `model` in eval mode (running BN statistics, no grad) over `indices` of `data` (all of
// it when empty) on `device`, as `spec` says.
EvalResult evaluate(Classifier& model, const Dataset& data, const torch::Device& device, const EvalSpec& spec,
                    const std::vector<int64_t>& indices = {});

// Sums loss, sample count and confusion matrix over all ranks (each evaluated its own shard),
// so that every rank holds the metrics of the whole split, exactly as one process computes them.
void reduce_across_ranks(EvalResult& r, Communicator& comm, const torch::Device& device);

// The samples rank `rank` of `world_size` evaluates: rank, rank + W, ... (no padding).
std::vector<int64_t> eval_shard(int64_t size, int rank, int world_size);

// Adds the outcomes of one batch: logits [B, C], labels [B].
void accumulate_confusion(ConfusionMatrix& counts, const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace rt
