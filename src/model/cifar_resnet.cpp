#include "model/cifar_resnet.h"

namespace rt {

namespace nn = torch::nn;

namespace {

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

// BasicBlock with an option-A shortcut: when the shape changes, the identity is subsampled
// by 2 and padded with (out - in) / 2 zero channels on each side.
class OptionABlockImpl : public nn::Module {
 public:
  OptionABlockImpl(int64_t in, int64_t out, int64_t stride)
      : conv1(register_module("conv1", conv3x3(in, out, stride))),
        bn1(register_module("bn1", BatchNorm(out))),
        conv2(register_module("conv2", conv3x3(out, out, 1))),
        bn2(register_module("bn2", BatchNorm(out))),
        pad_channels_((out - in) / 2),
        subsample_(stride != 1 || in != out) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto out = bn1(conv1(x)).relu_();
    out = bn2(conv2(out));
    if (subsample_) {
      using torch::indexing::Slice;
      auto shortcut = x.index({Slice(), Slice(), Slice(torch::indexing::None, torch::indexing::None, 2),
                               Slice(torch::indexing::None, torch::indexing::None, 2)});
      out += torch::constant_pad_nd(shortcut, {0, 0, 0, 0, pad_channels_, pad_channels_});
    } else {
      out += x;
    }
    return torch::relu_(out);
  }

  nn::Conv2d conv1;
  BatchNorm bn1;
  nn::Conv2d conv2;
  BatchNorm bn2;

 private:
  int64_t pad_channels_;
  bool subsample_;
};
TORCH_MODULE(OptionABlock);

}  // namespace

CifarResNet::CifarResNet(std::string name, int64_t blocks_per_stage, int64_t num_classes, bool zero_init_residual)
    : name_(std::move(name)), num_classes_(num_classes) {
  torch::NoGradGuard no_grad;
  conv1 = register_module("conv1", conv3x3(3, 16, 1));
  bn1 = register_module("bn1", BatchNorm(16));
  int64_t in = 16;
  const int64_t widths[3] = {16, 32, 64};
  nn::Sequential* stages[3] = {&layer1, &layer2, &layer3};
  for (int s = 0; s < 3; ++s) {
    nn::Sequential stage;
    for (int64_t b = 0; b < blocks_per_stage; ++b) {
      stage->push_back(OptionABlock(in, widths[s], (s > 0 && b == 0) ? 2 : 1));
      in = widths[s];
    }
    *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
  }
  linear = register_module("linear", nn::Linear(64, num_classes));
  // The reference initialises every conv and linear weight with kaiming_normal_ (fan_in).
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) nn::init::kaiming_normal_(c->weight);
    if (auto* l = m->as<nn::Linear>()) nn::init::kaiming_normal_(l->weight);
  }
  if (zero_init_residual) {
    for (auto* stage : stages) {
      for (auto& block : (*stage)->children()) nn::init::zeros_(block->as<OptionABlockImpl>()->bn2->weight);
    }
  }
}

torch::Tensor CifarResNet::forward(torch::Tensor x) {
  x = bn1(conv1(x)).relu_();
  x = layer3->forward(layer2->forward(layer1->forward(x)));
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return linear(x);
}

}  // namespace rt
