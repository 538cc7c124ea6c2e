#include "model/airbench.h"

#include "core/errors.h"

namespace rt {

namespace nn = torch::nn;

namespace {

// A 3x3 convolution without bias whose first `in` filters pass their input channel through
// unchanged (Dirac); the others keep PyTorch's default initialisation.
nn::Conv2d identity_conv(int64_t in, int64_t out) {
  nn::Conv2d c(nn::Conv2dOptions(in, out, 3).padding(1).bias(false));
  torch::NoGradGuard no_grad;
  auto w = c->weight.narrow(0, 0, std::min(in, out));
  nn::init::dirac_(w);
  return c;
}

BatchNorm norm(int64_t channels) {
  BatchNorm bn(nn::BatchNorm2dOptions(channels).eps(1e-12).momentum(0.4));
  bn->weight.set_requires_grad(false);  // fixed at 1: only the bias is trained
  return bn;
}

class GeluImpl : public nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x) { return torch::gelu(x); }
};
TORCH_MODULE(Gelu);

nn::Sequential conv_group(int64_t in, int64_t out) {
  nn::Sequential g;
  g->push_back("conv1", identity_conv(in, out));
  g->push_back("pool", nn::MaxPool2d(nn::MaxPool2dOptions(2)));
  g->push_back("norm1", norm(out));
  g->push_back("activ1", Gelu());
  g->push_back("conv2", identity_conv(out, out));
  g->push_back("norm2", norm(out));
  g->push_back("activ2", Gelu());
  return g;
}

}  // namespace

torch::Tensor patch_covariance(const torch::Tensor& images, int64_t k) {
  TORCH_CHECK(images.dim() == 4 && images.size(0) > 0 && images.size(2) >= k && images.size(3) >= k,
              "patch_covariance: images must be [N, C, H, W] with H, W >= k");
  const int64_t c = images.size(1), d = c * k * k;
  auto sum = torch::zeros({d, d}, torch::kFloat64);
  int64_t patches = 0;
  for (int64_t begin = 0; begin < images.size(0); begin += 256) {
    const auto chunk = images.narrow(0, begin, std::min<int64_t>(256, images.size(0) - begin)).to(torch::kFloat64);
    // [n, C, H', W', k, k] -> [n, H', W', C, k, k] -> one row per patch
    const auto flat = chunk.unfold(2, k, 1).unfold(3, k, 1).permute({0, 2, 3, 1, 4, 5}).reshape({-1, d});
    sum += flat.t().mm(flat);
    patches += flat.size(0);
  }
  return sum / static_cast<double>(patches);
}

torch::Tensor whitening_weights(const torch::Tensor& covariance, int64_t channels, int64_t k, double eps) {
  const int64_t d = channels * k * k;
  TORCH_CHECK(covariance.sizes() == torch::IntArrayRef({d, d}), "whitening_weights: covariance must be [C*k*k, C*k*k]");
  const auto [eigenvalues, eigenvectors] = torch::linalg_eigh(covariance.to(torch::kFloat64), "U");  // ascending
  // Columns are eigenvectors: as filters, in decreasing order of eigenvalue.
  const auto values = eigenvalues.flip(0);
  const auto filters = eigenvectors.t().flip(0).reshape({d, channels, k, k});
  const auto scaled = filters / (values + eps).sqrt().view({d, 1, 1, 1});
  return torch::cat({scaled, -scaled});
}

AirbenchNet::AirbenchNet(int64_t num_classes, std::vector<int64_t> widths) : num_classes_(num_classes) {
  TORCH_CHECK(widths.size() == 3, "AirbenchNet: three widths");
  whiten = register_module("whiten", nn::Conv2d(nn::Conv2dOptions(3, kWhitenWidth, kWhitenKernel).bias(true)));
  whiten->weight.set_requires_grad(false);  // set from the data, then frozen
  group1 = register_module("group1", conv_group(kWhitenWidth, widths[0]));
  group2 = register_module("group2", conv_group(widths[0], widths[1]));
  group3 = register_module("group3", conv_group(widths[1], widths[2]));
  head = register_module("head", nn::Linear(nn::LinearOptions(widths[2], num_classes).bias(false)));
}

void AirbenchNet::initialise_from_data(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const auto w = whitening_weights(patch_covariance(images, kWhitenKernel), images.size(1), kWhitenKernel);
  whiten->weight.copy_(w);  // into its dtype, device and memory format
}

torch::Tensor AirbenchNet::forward(torch::Tensor x) {
  // Frozen (set_whitening_trainable(false)), the bias is read detached: the same convolution
  // (nn::Conv2d's own call), and no gradient flows into this layer or out of group1's input.
  x = torch::gelu(whitening_trainable_ ? whiten(x) : torch::conv2d(x, whiten->weight, whiten->bias.detach()));
  x = group3->forward(group2->forward(group1->forward(x)));
  x = x.amax({2, 3});  // the paper's max-pool of 3 over the 3x3 that remain of a 32x32 input
  return head(x) * kHeadScale;
}

}  // namespace rt
