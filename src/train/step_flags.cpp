#include "train/step_flags.h"

#include "device/device_timer.h"

namespace rt {

StepFlags::StepFlags(Communicator& comm, const torch::Device& device) : comm_(comm), device_(device) {}

StepFlags::Agreed StepFlags::exchange(int64_t step, const torch::Tensor& nonfinite, bool stop_requested,
                                      int64_t images) {
  // [3] float32 on the device: {non-finite, stop, images}; summed over ranks the first two
  // count the ranks (exact in float32 up to 2^24 images a step).
  const auto options = nonfinite.options().dtype(torch::kFloat32);
  auto flags = torch::cat({nonfinite.reshape({1}).to(torch::kFloat32),
                           torch::tensor({stop_requested ? 1.0f : 0.0f, static_cast<float>(images)}, options)});
  comm_.allreduce_sum(flags, "allreduce of the step flags");
  Pending p{step, torch::Tensor(), std::nullopt};
  if (device_.is_cpu()) {
    p.host = flags;
  } else {
    p.host = torch::empty({3}, torch::TensorOptions(torch::kFloat32).pinned_memory(true));
    p.host.copy_(flags, /*non_blocking=*/true);
    p.copied.emplace(device_.type());
    p.copied->record(current_stream(device_));
  }
  pending_.push_back(std::move(p));
  return {flags.narrow(0, 0, 1).clamp_max(1.0f), flags.narrow(0, 2, 1)};
}

std::vector<StepFlags::Flags> StepFlags::take(bool all) {
  std::vector<Flags> out;
  const size_t keep = (all || device_.is_cpu()) ? 0 : 1;
  while (pending_.size() > keep) {
    Pending& p = pending_.front();
    if (p.copied) p.copied->synchronize();
    const float* v = p.host.data_ptr<float>();
    out.push_back({p.step, v[0] > 0, v[1] > 0});
    pending_.pop_front();
  }
  return out;
}

}  // namespace rt
