// SGD as the reference trains: momentum (optionally Nesterov) and weight decay, with an option
// to exempt BatchNorm parameters and biases (1-d tensors) from weight decay. The update runs as
// one fused multi-tensor kernel per parameter group (at::_fused_sgd_, what
// torch.optim.SGD(fused=True) calls), on the GPU and on the CPU alike.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "core/config.h"
#include "model/classifier.h"

namespace rt {

// torch::optim::SGD with its step() replaced by the fused kernels. Everything else is SGD's
// own: options, parameter groups, the momentum buffers in its state (so checkpoints keep their
// format) and save/load. Note [Fused step]:
// - the update is torch::optim::SGD::step's, to the last bit in almost every element: the fused
//   kernel rounds momentum x buffer + gradient once (a fused multiply-add) where SGD's loop of
//   mul_ and add_ rounds twice, so now and then a buffer element differs by one unit in the
//   last place (tests/train/test_optimizer.cpp checks the rest against SGD within 1e-6);
// - a parameter without a momentum buffer gets one on its first step (is_first_step: the
//   buffer takes the gradient, as SGD's clone does);
// - with set_found_inf(flag), flag [1] float32 on the parameters' device, the kernels skip the
//   whole update on the device when flag == 1 (a non-finite step), with no host read. A
//   buffer created for a skipped first step stays zero, and the next step then sets it to
//   (1 - dampening) x gradient, the same as a first step when dampening is 0 (ours always is);
// - the learning rate is the group's number, passed by value: only a step captured in a CUDA
//   graph would need it as a tensor, and the step stays outside the graph
//   (Note [What the graph holds]).
class FusedSgd : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;
  torch::Tensor step(LossClosure closure = nullptr) override;
  // The skip flag the next step()s read (undefined: never skip).
  void set_found_inf(torch::Tensor found_inf) { found_inf_ = std::move(found_inf); }

  // How a parameter group's learning rate follows the schedule's: x `scale`, and 0 from epoch
  // `until_epoch` on (0: never). Groups without a rule follow it as it is.
  struct GroupRule {
    double scale = 1;
    int64_t until_epoch = 0;
  };
  void set_group_rules(std::vector<GroupRule> rules) { rules_ = std::move(rules); }
  // Sets every group's learning rate for a step of `epoch` (0-based) at the schedule's `lr`.
  void set_lr(double lr, int64_t epoch);

 private:
  torch::Tensor found_inf_;
  std::vector<GroupRule> rules_;
};

// The optimiser of `model`'s trainable parameters as `c` says. Groups: by default one; with
// --no-decay-bn-bias the decayed and the exempt; with --bn-bias-lr-mult M the BatchNorm biases
// apart, at M x the learning rate and weight decay / M (the same decay per step: Jordan 2024's
// "decoupled" bias learning rate); with --whiten-bias-epochs N a whitening layer's parameters
// apart, their learning rate 0 from epoch N on, so that they stay as they are (TrainStep also
// stops their gradient then, as airbench94 does, which saves the backward into that layer).
std::unique_ptr<FusedSgd> make_sgd(Classifier& model, const Config& c);

// Sets the learning rate of every parameter group.
void set_learning_rate(torch::optim::Optimizer& opt, double lr);

// [1] float32 on the gradients' device: 1 when `loss` or any of `grads` holds a NaN or an
// infinity, else 0. One multi-tensor kernel for all gradients (AMP's
// _amp_foreach_non_finite_check_and_unscale_ with a scale of 1, which leaves them as they are).
torch::Tensor nonfinite_flag(const torch::Tensor& loss, const std::vector<torch::Tensor>& grads);

}  // namespace rt
