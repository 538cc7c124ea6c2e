#include "parallel/grad_compressor.h"

#include "parallel/powersgd.h"

namespace rt {

void ThenWork::wait() {
  if (done_) return;
  first_->wait();
  then_();
  done_ = true;
  for (auto& callback : callbacks_) callback();
  callbacks_.clear();
}

void ThenWork::on_complete(std::function<void()> callback) {
  if (done_) {
    callback();
  } else {
    callbacks_.push_back(std::move(callback));
  }
}

namespace {

// fp32 as it is: divide by the world size, sum.
class NoCompression : public GradCompressor {
 public:
  explicit NoCompression(Communicator& comm) : comm_(comm) {}
  BucketReduction start(size_t index, torch::Tensor& flat, const std::vector<torch::Tensor>&) override {
    flat.mul_(1.0 / comm_.world_size());
    return {comm_.allreduce_sum_async(flat, "allreduce of gradient bucket " + std::to_string(index)),
            flat.numel() * static_cast<int64_t>(flat.element_size())};
  }
  std::string name() const override { return "none"; }

 private:
  Communicator& comm_;
};

// Divide by the world size in the gradients' precision, cast to 16 bits, sum, cast back (as
// DDP's fp16_compress_hook, which divides after the cast; dividing first keeps fp16's range).
class CastCompression : public GradCompressor {
 public:
  CastCompression(Communicator& comm, torch::ScalarType dtype) : comm_(comm), dtype_(dtype) {}
  BucketReduction start(size_t index, torch::Tensor& flat, const std::vector<torch::Tensor>&) override {
    flat.mul_(1.0 / comm_.world_size());
    auto wire = std::make_shared<torch::Tensor>(flat.to(dtype_));
    auto work = comm_.allreduce_sum_async(*wire, "allreduce of gradient bucket " + std::to_string(index) + " (" +
                                                     std::string(c10::toString(dtype_)) + ")");
    const int64_t bytes = wire->numel() * static_cast<int64_t>(wire->element_size());
    return {std::make_unique<ThenWork>(std::move(work),
                                       [flat, wire] {
                                         torch::NoGradGuard no_grad;
                                         auto out = flat;  // the bucket's storage, shared
                                         out.copy_(*wire);
                                       }),
            bytes};
  }
  std::string name() const override { return dtype_ == torch::kBFloat16 ? "bf16" : "fp16"; }

 private:
  Communicator& comm_;
  torch::ScalarType dtype_;
};

}  // namespace

std::unique_ptr<GradCompressor> make_grad_compressor(const GradCompression& spec, Communicator& comm) {
  switch (spec.kind) {
    case GradCompression::Kind::kNone:
      return std::make_unique<NoCompression>(comm);
    case GradCompression::Kind::kBf16:
      return std::make_unique<CastCompression>(comm, torch::kBFloat16);
    case GradCompression::Kind::kFp16:
      return std::make_unique<CastCompression>(comm, torch::kHalf);
    case GradCompression::Kind::kPowerSgd:
      return std::make_unique<PowerSgd>(spec, comm);
  }
  return std::make_unique<NoCompression>(comm);
}

}  // namespace rt
