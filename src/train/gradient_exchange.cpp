#include "train/gradient_exchange.h"

#include "core/log.h"

namespace rt {

GradientExchange::GradientExchange(const std::vector<torch::Tensor>& params, Communicator& comm, const Config& cfg,
                                   SavedCompression resumed)
    : world_(comm.world_size()) {
  GradCompression compression = GradCompression::parse(cfg.grad_compression);
  compression.warmup_steps = cfg.powersgd_warmup;
  compression.seed = cfg.seed;
  sync_ = std::make_unique<GradientSync>(params, comm, static_cast<int64_t>(cfg.bucket_mb * 1024 * 1024),
                                         /*overlap=*/true, compression);
  if (resumed.empty()) return;
  if (world_ == 1) {  // nothing is compressed: carried on as it was
    carried_ = std::move(resumed);
    return;
  }
  if (resumed.world != world_ && comm.rank() == 0) {
    log_info(
        "the checkpoint's gradient compression state is from {} ranks, this run has {}: each rank starts from "
        "their mean error feedback",
        resumed.world, world_);
  }
  const torch::Device device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
  for (auto& [name, t] : resumed.tensors) t = t.to(device);
  sync_->load_compression_state(resumed.tensors, resumed.world);
}

SavedCompression GradientExchange::checkpoint_state() {
  SavedCompression gathered{sync_->gather_compression_state(), world_};  // a collective when there is state
  if (world_ == 1 && !carried_.empty()) return carried_;
  return gathered;
}

}  // namespace rt
