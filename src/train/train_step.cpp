#include "train/train_step.h"

#include <algorithm>

#include "core/stop_signal.h"

namespace rt {

MicroBatch MicroBatch::of(int64_t batch, int64_t batches, int64_t accumulation) {
  MicroBatch m;
  m.index = batch % accumulation;
  m.count = std::min(accumulation, batches - (batch - m.index));
  m.divisor = static_cast<double>(m.count);
  return m;
}

TrainStep::TrainStep(Classifier& model, FusedSgd& optimizer, GradientSync& grad_sync, StepFlags& flags,
                     CudaGraphStep* graph, Options options, BatchNormReplay* bn_replay, Lookahead* lookahead)
    : model_(model),
      optimizer_(optimizer),
      grad_sync_(grad_sync),
      flags_(flags),
      graph_(graph),
      options_(options),
      bn_replay_(bn_replay),
      lookahead_(lookahead),
      loss_options_(torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(options.label_smoothing)) {}

void TrainStep::begin_epoch() {
  model_.train();
  grad_sync_.reset_stats();
}

void TrainStep::begin(double lr, int64_t epoch) {
  optimizer_.set_lr(lr, epoch);
  if (options_.whiten_bias_epochs > 0) model_.set_whitening_trainable(epoch < options_.whiten_bias_epochs);
  if (!graph_) optimizer_.zero_grad();  // a CudaGraphStep keeps the gradients: Note [What the graph holds]
}

// Note [A step over the images it had]: with --global-batch a micro-batch's mean loss is weighted
// by its planned share of the step (data/epoch_plan.h: its images x workers / the step's), so
// that the averaged gradient is the mean over the step's images. When --skip-bad-images leaves
// files out, a micro-batch is weighted by the images it had instead (its mean loss x had x
// workers / the step's planned images), and after the allreduce the gradients are multiplied by
// the step's planned images / the images it had over all ranks, a count the step flags'
// allreduce carries. So the step is the mean over the images it had, whatever the cut into
// micro-batches and ranks, as on one worker. When nothing was left out the factor is exactly 1
// and every bit stays as it was.
CudaGraphStep::Outputs TrainStep::run(const torch::Tensor& batch_images, const torch::Tensor& batch_labels,
                                      MicroBatch micro, int64_t step, TraceRecorder* trace) {
  const auto images = batch_images.to(options_.device, /*non_blocking=*/true);
  const auto labels = batch_labels.to(options_.device, /*non_blocking=*/true);
  grad_sync_.set_sync(micro.last());
  if (micro.first()) {
    ran_.clear();
    step_images_ = 0;
  }
  const int64_t had = images.size(0);
  ran_.push_back(had > 0);
  step_images_ += had;
  const bool exact_mean = options_.images_may_be_skipped && micro.step_images > 0;
  const double divisor = exact_mean && had > 0 && had != micro.images
                             ? micro.divisor * static_cast<double>(micro.images) / static_cast<double>(had)
                             : micro.divisor;
  const auto forward_backward = [&](const torch::Tensor& x, const torch::Tensor& y) {
    torch::Tensor logits, loss;
    if (x.size(0) == 0) {  // nothing to learn from: zero gradients through the same hooks
      torch::Tensor zero = torch::zeros({}, torch::TensorOptions(torch::kFloat32).device(options_.device));
      for (const auto& p : trainable_parameters(model_)) zero = zero + p.sum() * 0;
      zero.backward();
      return CudaGraphStep::Outputs{torch::zeros({0, model_.num_classes()}, zero.options()), zero.detach()};
    }
    {
      TraceSpan span(trace, "forward");
      AutocastGuard autocast(options_.device, options_.precision);  // forward only, as torch.autocast is used
      logits = model_.forward(to_model_format(x, options_.channels_last)).to(torch::kFloat32);
      loss = torch::nn::functional::cross_entropy(logits, y, loss_options_);
    }
    {
      TraceSpan span(trace, "backward");
      (divisor != 1 ? loss / divisor : loss).backward();
    }
    return CudaGraphStep::Outputs{logits, loss};
  };
  CudaGraphStep::Outputs out;
  if (graph_) {
    TraceSpan span(trace, graph_->captured() ? "forward + backward (CUDA graph)" : "forward + backward");
    out = graph_->run(images, labels, forward_backward);
  } else {
    out = forward_backward(images, labels);
  }
  if (!micro.last()) return out;
  {
    TraceSpan span(trace, "wait for gradient allreduce");
    grad_sync_.finish();  // waits for every bucket's allreduce: averaged gradients
  }
  // All ranks agree (one allreduce) on a non-finite loss or gradient on any rank, and on a
  // SIGINT/SIGTERM received by any rank; the host reads them later (Note [Flags one step late]).
  std::vector<torch::Tensor> grads;
  for (const auto& p : trainable_parameters(model_)) grads.push_back(p.grad());
  const StepFlags::Agreed agreed =
      flags_.exchange(step, nonfinite_flag(out.second, grads), stop_signal_received() != 0, step_images_);
  optimizer_.set_found_inf(agreed.nonfinite);
  if (exact_mean) {  // Note [A step over the images it had]
    const auto factor =
        torch::where(agreed.images > 0, micro.step_images / agreed.images, torch::ones_like(agreed.images));
    std::vector<torch::Tensor> defined;
    for (const auto& g : grads)
      if (g.defined()) defined.push_back(g);
    torch::_foreach_mul_(defined, factor.reshape({}));
  }
  {
    TraceSpan span(trace, "optimizer step");
    optimizer_.step();
  }
  if (bn_replay_) {
    TraceSpan span(trace, "BatchNorm statistics");
    bn_replay_->step_done(micro.step_micros, ran_);
  }
  if (lookahead_) lookahead_->after_step(step);
  return out;
}

}  // namespace rt
