// The interface every model implements: images [B, 3, H, W] float -> logits [B, classes].
#pragma once

#include <torch/torch.h>

#include <string>

namespace rt {

class Classifier : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual std::string arch() const = 0;  // registry name, e.g. "resnet50"
  virtual int64_t num_classes() const = 0;
  // A model whose initialisation depends on the training data (a whitening layer) takes it
  // from `images`: [N, 3, H, W] float, normalised as the model's inputs are, not augmented.
  // Called once, on a freshly built model, before any weights are loaded or broadcast.
  virtual bool initialises_from_data() const { return false; }
  virtual void initialise_from_data(const torch::Tensor& images) { (void)images; }
  // The trained parameters of that data-initialised layer (--whiten-bias-epochs), if any.
  virtual std::vector<torch::Tensor> whitening_parameters() { return {}; }
  // Whether the forward pass lets gradients into that layer (true until told otherwise). Off,
  // its output needs no gradient and backward stops one layer earlier, as airbench94 does by
  // setting requires_grad to false (the parameters themselves stay trainable, so every list of
  // them, the optimiser's state and the checkpoint keep one shape all run long).
  virtual void set_whitening_trainable(bool trainable) { (void)trainable; }
};

// Number of parameters (what torchvision users count with p.numel()), frozen ones included.
int64_t count_parameters(const torch::nn::Module& m);
// The parameters that are trained (requires_grad), in registration order: what gradients are
// exchanged for and the optimiser updates. Frozen ones (a whitening layer's filters) are kept,
// checkpointed and broadcast like the rest, but never have a gradient.
std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& m);

}  // namespace rt
