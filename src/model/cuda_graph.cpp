#include "model/cuda_graph.h"

#include <ATen/autocast_mode.h>

#include <optional>
#include <string>
#include <vector>

#include "core/errors.h"

#ifdef RT_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace rt {

void CudaGraphStep::check_device(const torch::Device& device) {
  RT_CHECK_USER(device.is_cuda(), "--cuda-graph records GPU kernels: it needs --device cuda (this run is on {})",
                device.str());
}

#ifdef RT_WITH_CUDA

struct CudaGraphStep::Impl {
  Impl(const torch::Device& device, std::vector<torch::Tensor> params, int64_t full_batch)
      : stream(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())),
        params(std::move(params)),
        full_batch(full_batch) {
    // Everything queued so far on the default stream (parameters, the data set) happens
    // before anything on the side stream: Note [Warm-up and streams].
    torch::cuda::synchronize(device.index());
    guard.emplace(stream);
  }
  ~Impl() {
    // What the side stream still runs finishes before the default stream is current again.
    try {
      stream.synchronize();
    } catch (...) {  // a failed device: nothing left to order
    }
  }

  c10::cuda::CUDAStream stream;
  std::optional<c10::cuda::CUDAStreamGuard> guard;
  std::optional<at::cuda::CUDAGraph> graph;
  std::vector<torch::Tensor> params;  // whose gradients the step owns (Note [What the graph holds])
  int64_t full_batch;
  std::vector<int64_t> shape;  // the image batch shape the graph is (to be) captured for
  int eager_steps = 0;         // eager steps of that shape so far

  // Before an eager step: none before the capture, zero in place after it.
  void reset_gradients() {
    for (auto& p : params) {
      if (!p.grad().defined()) continue;
      if (graph) {
        p.mutable_grad().zero_();
      } else {
        p.mutable_grad() = torch::Tensor();
      }
    }
  }
  Outputs eager(const torch::Tensor& images, const torch::Tensor& labels, const Body& body) {
    reset_gradients();
    return body(images, labels);
  }
  torch::Tensor static_images, static_labels, logits, loss;
};

CudaGraphStep::CudaGraphStep(const torch::Device& device, std::vector<torch::Tensor> params, int64_t full_batch) {
  check_device(device);
  impl_ = std::make_unique<Impl>(device, std::move(params), full_batch);
}

CudaGraphStep::~CudaGraphStep() = default;

CudaGraphStep::Outputs CudaGraphStep::run(const torch::Tensor& images, const torch::Tensor& labels, const Body& body) {
  Impl& s = *impl_;
  if (s.shape.empty() && images.size(0) == s.full_batch) s.shape = images.sizes().vec();
  if (images.sizes().vec() != s.shape) return s.eager(images, labels, body);  // e.g. a smaller last batch
  if (s.graph) {
    s.static_images.copy_(images, /*non_blocking=*/true);
    s.static_labels.copy_(labels, /*non_blocking=*/true);
    s.graph->replay();
    return {s.logits, s.loss};
  }
  if (s.eager_steps < kEagerSteps) {
    ++s.eager_steps;
    return s.eager(images, labels, body);
  }
  // --- capture: gradients are none here, so that backward allocates them inside the graph's
  //     memory pool and every replay overwrites them.
  s.reset_gradients();
  s.static_images = images.clone(at::MemoryFormat::Preserve);
  s.static_labels = labels.clone();
  const bool cache = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_cache_enabled(false);  // cached casts would outlive the capture
  s.graph.emplace();
  try {
    s.graph->capture_begin();
    std::tie(s.logits, s.loss) = body(s.static_images, s.static_labels);
    s.graph->capture_end();
  } catch (const std::exception& e) {
    at::autocast::set_autocast_cache_enabled(cache);
    try {
      s.graph->capture_end();  // ends a capture that body's exception left open
    } catch (...) {
    }
    s.graph.reset();
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    std::string why = c10_error ? c10_error->what_without_backtrace() : e.what();
    throw UserError(
        fmt::format("--cuda-graph: the training step could not be captured as a CUDA graph "
                    "({}); run without --cuda-graph",
                    why.substr(0, why.find('\n'))));
  }
  at::autocast::set_autocast_cache_enabled(cache);
  // Capturing records the kernels without running them: run this batch now.
  s.graph->replay();
  return {s.logits, s.loss};
}

bool CudaGraphStep::captured() const { return impl_->graph.has_value(); }

#else  // a LibTorch without CUDA

struct CudaGraphStep::Impl {};

CudaGraphStep::CudaGraphStep(const torch::Device& device, std::vector<torch::Tensor>, int64_t) {
  RT_CHECK_USER(false,
                "--cuda-graph: this ringtrain was built against a LibTorch without CUDA (device {}); "
                "rebuild with the CUDA wheel (scripts/setup.sh) or run without --cuda-graph",
                device.str());
}
CudaGraphStep::~CudaGraphStep() = default;
CudaGraphStep::Outputs CudaGraphStep::run(const torch::Tensor& images, const torch::Tensor& labels, const Body& body) {
  return body(images, labels);
}
bool CudaGraphStep::captured() const { return false; }

#endif

}  // namespace rt
