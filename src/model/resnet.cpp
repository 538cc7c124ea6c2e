#include "model/resnet.h"

namespace rt {

namespace nn = torch::nn;

int64_t count_parameters(const nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::vector<torch::Tensor> trainable_parameters(const nn::Module& m) {
  std::vector<torch::Tensor> v;
  for (const auto& p : m.parameters()) {
    if (p.requires_grad()) v.push_back(p);
  }
  return v;
}

namespace {

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

// torchvision.models.resnet.BasicBlock: 3x3 -> 3x3, expansion 1.
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride, nn::Sequential downsample)
      : conv1(register_module("conv1", conv(in, planes, 3, stride))),
        bn1(register_module("bn1", BatchNorm(planes))),
        conv2(register_module("conv2", conv(planes, planes, 3, 1))),
        bn2(register_module("bn2", BatchNorm(planes))),
        downsample(downsample) {
    if (downsample) register_module("downsample", downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = bn1(conv1(x)).relu_();
    out = bn2(conv2(out));
    out += downsample ? downsample->forward(x) : x;
    return torch::relu_(out);
  }

  nn::Conv2d conv1;
  BatchNorm bn1;
  nn::Conv2d conv2;
  BatchNorm bn2;
  nn::Sequential downsample;
};
TORCH_MODULE(BasicBlock);

// torchvision.models.resnet.Bottleneck: 1x1 -> 3x3 (stride here) -> 1x1, expansion 4.
class BottleneckImpl : public nn::Module {
 public:
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride, nn::Sequential downsample)
      : conv1(register_module("conv1", conv(in, planes, 1, 1))),
        bn1(register_module("bn1", BatchNorm(planes))),
        conv2(register_module("conv2", conv(planes, planes, 3, stride))),
        bn2(register_module("bn2", BatchNorm(planes))),
        conv3(register_module("conv3", conv(planes, planes * 4, 1, 1))),
        bn3(register_module("bn3", BatchNorm(planes * 4))),
        downsample(downsample) {
    if (downsample) register_module("downsample", downsample);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = bn1(conv1(x)).relu_();
    out = bn2(conv2(out)).relu_();
    out = bn3(conv3(out));
    out += downsample ? downsample->forward(x) : x;
    return torch::relu_(out);
  }

  nn::Conv2d conv1;
  BatchNorm bn1;
  nn::Conv2d conv2;
  BatchNorm bn2;
  nn::Conv2d conv3;
  BatchNorm bn3;
  nn::Sequential downsample;
};
TORCH_MODULE(Bottleneck);

// One stage (torchvision's _make_layer): the first block may change stride and width.
nn::Sequential make_stage(bool bottleneck, int64_t& in, int64_t planes, int64_t blocks, int64_t stride) {
  const int64_t expansion = bottleneck ? 4 : 1;
  nn::Sequential stage;
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t s = i == 0 ? stride : 1;
    nn::Sequential downsample{nullptr};
    if (i == 0 && (stride != 1 || in != planes * expansion)) {
      downsample = nn::Sequential(conv(in, planes * expansion, 1, stride), BatchNorm(planes * expansion));
    }
    if (bottleneck) {
      stage->push_back(Bottleneck(in, planes, s, downsample));
    } else {
      stage->push_back(BasicBlock(in, planes, s, downsample));
    }
    in = planes * expansion;
  }
  return stage;
}

}  // namespace

TorchvisionResNet::TorchvisionResNet(const ResNetSpec& spec, int64_t num_classes, bool zero_init_residual, Stem stem)
    : spec_(spec), num_classes_(num_classes), stem_(stem) {
  TORCH_INTERNAL_ASSERT(spec.blocks.size() == 4);
  torch::NoGradGuard no_grad;
  int64_t in = 64;
  conv1 = register_module("conv1", stem == Stem::kCifar ? conv(3, 64, 3, 1) : conv(3, 64, 7, 2));
  bn1 = register_module("bn1", BatchNorm(64));
  const int64_t planes[4] = {64, 128, 256, 512};
  nn::Sequential* stages[4] = {&layer1, &layer2, &layer3, &layer4};
  for (int i = 0; i < 4; ++i) {
    *stages[i] =
        register_module("layer" + std::to_string(i + 1), make_stage(spec.bottleneck, in, planes[i], spec.blocks[i],
                                                                    /*stride=*/i == 0 ? 1 : 2));
  }
  fc = register_module("fc", nn::Linear(in, num_classes));
  // Initialisation as torchvision's ResNet.__init__ (Linear keeps its default init).
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, /*a=*/0, torch::kFanOut, torch::kReLU);
    } else if (auto* b = m->as<torch::nn::BatchNorm2dImpl>()) {
      nn::init::ones_(b->weight);
      nn::init::zeros_(b->bias);
    }
  }
  if (zero_init_residual) {
    for (auto* stage : stages) {
      for (auto& block : (*stage)->children()) {
        if (auto* b = block->as<BottleneckImpl>()) nn::init::zeros_(b->bn3->weight);
        if (auto* b = block->as<BasicBlockImpl>()) nn::init::zeros_(b->bn2->weight);
      }
    }
  }
}

torch::Tensor TorchvisionResNet::forward(torch::Tensor x) {
  x = bn1(conv1(x)).relu_();
  if (stem_ == Stem::kImageNet) x = torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc(x);
}

}  // namespace rt
