// TrainStep: the work of one optimiser step, one micro-batch at a time, shared by `train` and
// `bench`:
//   forward (autocast) -> loss -> backward, while gradient buckets are allreduced as they fill
//   -> [last micro-batch] wait for the averaged gradients -> agree on the step's flags
//   -> optimiser step (skipped on the device when a rank had a non-finite value).
// With --cuda-graph, forward + loss + backward run as a captured graph (model/cuda_graph.h)
// behind the same call.
#pragma once

#include <torch/torch.h>

#include "core/trace.h"
#include "model/classifier.h"
#include "model/cuda_graph.h"
#include "model/precision.h"
#include "parallel/grad_sync.h"
#include "train/batchnorm_replay.h"
#include "train/lookahead.h"
#include "train/optimizer.h"
#include "train/step_flags.h"

namespace rt {

// Where a micro-batch stands in its optimiser step (gradient accumulation).
struct MicroBatch {
  int64_t index = 0;        // 0-based within the step
  int64_t count = 1;        // micro-batches in this step (the last step of an epoch may have fewer)
  double divisor = 1;       // the mean loss is divided by this before backward (data/epoch_plan.h)
  int64_t step_micros = 1;  // micro-batches in the step over all ranks (BatchNormReplay)
  int64_t images = 0;       // the images planned for it (fewer arrive when --skip-bad-images leaves some out)
  double step_images = 0;   // the images planned for the step over all ranks (--global-batch; else 0)
  bool first() const { return index == 0; }
  bool last() const { return index == count - 1; }
  // The position of batch `batch` (0-based in the epoch, of `batches`) with `accumulation` per step.
  static MicroBatch of(int64_t batch, int64_t batches, int64_t accumulation);
};

class TrainStep {
 public:
  struct Options {
    torch::Device device = torch::kCPU;
    Precision precision = Precision::kFloat32;
    bool channels_last = false;
    double label_smoothing = 0;
    // Micro-batches may arrive with fewer images than planned (--skip-bad-images). With
    // --global-batch the step is then still the mean over the images it had, on any number
    // of workers: Note [A step over the images it had].
    bool images_may_be_skipped = false;
    // --whiten-bias-epochs: from this epoch (0-based) on, no gradient flows into the model's
    // whitening layer (0: it trains all run long). The optimiser's rule keeps it unchanged.
    int64_t whiten_bias_epochs = 0;
  };
  // `graph` may be null (eager steps); it owns the gradients when given. `bn_replay` (may be
  // null) folds in BatchNorm's statistics at each step's end (--global-batch).
  // `lookahead` (may be null) follows each optimiser step (--ema-every).
  TrainStep(Classifier& model, FusedSgd& optimizer, GradientSync& grad_sync, StepFlags& flags, CudaGraphStep* graph,
            Options options, BatchNormReplay* bn_replay = nullptr, Lookahead* lookahead = nullptr);

  // Before an epoch's first step: the model in training mode, the exchange's figures reset.
  void begin_epoch();
  // Before a step's first micro-batch of epoch `epoch` (0-based): the schedule's learning rate
  // (each parameter group's follows it, train/optimizer.h), gradients set to none, and the
  // whitening layer closed to gradients once its epochs are over.
  void begin(double lr, int64_t epoch = 0);
  // One micro-batch of step number `step` (1-based); on the step's last micro-batch also the
  // gradient wait, the flags and the optimiser step. Returns its (logits, mean loss), valid
  // until the next call. `trace` (may be null) records the phases as spans. An empty batch
  // (a rank with no samples in an epoch's last step, data/epoch_plan.h) contributes zero
  // gradients, so that the rank still takes part in the allreduce; its loss is 0.
  CudaGraphStep::Outputs run(const torch::Tensor& images, const torch::Tensor& labels, MicroBatch micro, int64_t step,
                             TraceRecorder* trace);
  // The agreed flags of finished steps (train/step_flags.h: one step late, or `all` of them).
  std::vector<StepFlags::Flags> take_flags(bool all = false) { return flags_.take(all); }

 private:
  Classifier& model_;
  FusedSgd& optimizer_;
  GradientSync& grad_sync_;
  StepFlags& flags_;
  CudaGraphStep* graph_;
  Options options_;
  BatchNormReplay* bn_replay_;
  Lookahead* lookahead_;
  torch::nn::functional::CrossEntropyFuncOptions loss_options_;
  std::vector<bool> ran_;    // this rank's micro-batches of the step so far: whether each had images
  int64_t step_images_ = 0;  // the images they had
};

}  // namespace rt
