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
                     CudaGraphStep* graph, Options options, BatchNormReplay* bn_replay)
    : model_(model),
      optimizer_(optimizer),
      grad_sync_(grad_sync),
      flags_(flags),
      graph_(graph),
      options_(options),
      bn_replay_(bn_replay),
      loss_options_(torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(options.label_smoothing)) {}

void TrainStep::begin(double lr) {
  set_learning_rate(optimizer_, lr);
  if (!graph_) optimizer_.zero_grad();  // a CudaGraphStep keeps the gradients: Note [What the graph holds]
}

CudaGraphStep::Outputs TrainStep::run(const torch::Tensor& batch_images, const torch::Tensor& batch_labels,
                                      MicroBatch micro, int64_t step, TraceRecorder* trace) {
  const auto images = batch_images.to(options_.device, /*non_blocking=*/true);
  const auto labels = batch_labels.to(options_.device, /*non_blocking=*/true);
  grad_sync_.set_sync(micro.last());
  const auto forward_backward = [&](const torch::Tensor& x, const torch::Tensor& y) {
    torch::Tensor logits, loss;
    if (x.size(0) == 0) {  // nothing to learn from: zero gradients through the same hooks
      torch::Tensor zero = torch::zeros({}, torch::TensorOptions(torch::kFloat32).device(options_.device));
      for (const auto& p : model_.parameters()) zero = zero + p.sum() * 0;
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
      (micro.divisor != 1 ? loss / micro.divisor : loss).backward();
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
  for (const auto& p : model_.parameters()) grads.push_back(p.grad());
  optimizer_.set_found_inf(flags_.exchange(step, nonfinite_flag(out.second, grads), stop_signal_received() != 0));
  {
    TraceSpan span(trace, "optimizer step");
    optimizer_.step();
  }
  if (bn_replay_) {
    TraceSpan span(trace, "BatchNorm statistics");
    bn_replay_->step_done(micro.step_micros);
  }
  return out;
}

}  // namespace rt
