// --cuda-graph: the forward pass, the loss and the backward pass of a training step recorded
// once as a CUDA graph and replayed for every later batch of the same shape, so that the
// host launches one graph instead of hundreds of kernels per step (what
// torch.cuda.make_graphed_callables / "whole-network capture" does in Python).
//
// Note [What the graph holds]: the optimiser step stays outside the graph, because the
// learning rate changes every step and torch::optim::SGD passes it to its kernels as a
// number, which a graph would freeze. Everything in the graph reads and writes fixed
// addresses: the batch is copied into static input tensors before each replay, the logits
// and the loss are the graph's own output tensors (valid until the next replay), and the
// gradients are written into the tensors that backward allocated during capture, which stay
// each parameter's .grad(), and every replay overwrites them (nothing to zero before it). So
// the CudaGraphStep owns the gradients of the parameters it is given: before an eager step it
// sets them to none (before the capture, so that backward allocates them in the graph's pool)
// or, once captured, zeroes them in place (a last batch of another size); the caller never
// calls zero_grad. Gradient accumulation is refused with --cuda-graph for the same reason.
//
// Note [Warm-up and streams]: a graph is captured after kEagerSteps eager steps of the full
// batch shape (never of a short last batch, which a resumed run may meet first) (cuDNN's benchmark mode times its
// algorithms on the first calls, which cannot be captured), and capture may not use the default stream: while a
// CudaGraphStep is alive, a side stream is the current stream of its device, for the eager steps, the replays and
// everything else the caller does in between, so that all of it stays in one order.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <utility>

namespace rt {

class CudaGraphStep {
 public:
  // (logits, loss) of one batch, after loss.backward() has run.
  using Outputs = std::pair<torch::Tensor, torch::Tensor>;
  using Body = std::function<Outputs(const torch::Tensor& images, const torch::Tensor& labels)>;
  static constexpr int kEagerSteps = 3;

  // Throws UserError unless `device` is a CUDA device: callers check it before costly set-up.
  static void check_device(const torch::Device& device);
  // Throws UserError where `device` is not a CUDA device or this build has no CUDA.
  // `params`: the parameters whose gradients the step owns; `full_batch`: the batch size
  // (dimension 0) of the shape to capture.
  CudaGraphStep(const torch::Device& device, std::vector<torch::Tensor> params, int64_t full_batch);
  ~CudaGraphStep();
  CudaGraphStep(const CudaGraphStep&) = delete;
  CudaGraphStep& operator=(const CudaGraphStep&) = delete;

  // Runs `body` on this batch: eagerly for the first kEagerSteps batches of the full batch size
  // and for batches of any other size; captured on the next one; replayed after that.
  Outputs run(const torch::Tensor& images, const torch::Tensor& labels, const Body& body);

  // Whether a graph has been captured.
  bool captured() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rt
