#include "dist/grad_sync.h"

#include <fmt/format.h>

#include <chrono>

namespace rt {

GradientSync::GradientSync(std::vector<torch::Tensor> params, Communicator& comm,
                           int64_t bucket_cap_bytes, bool overlap)
    : params_(std::move(params)), where_(params_.size()), comm_(comm), overlap_(overlap) {
  if (comm_.world_size() == 1) return;  // nothing to average: no buckets, no hooks
  // Buckets in reverse registration order, each of one dtype and device, capped in bytes.
  Bucket current;
  int64_t current_bytes = 0, current_numel = 0;
  auto close_bucket = [&] {
    if (current.params.empty()) return;
    const auto& first = params_[current.params.front()];
    current.flat = torch::zeros({current_numel}, first.options().requires_grad(false));
    buckets_.push_back(std::move(current));
    current = Bucket{};
    current_bytes = current_numel = 0;
  };
  for (size_t i = params_.size(); i-- > 0;) {
    const auto& p = params_[i];
    if (!p.requires_grad()) continue;
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    if (!current.params.empty()) {
      const auto& first = params_[current.params.front()];
      if (current_bytes + bytes > bucket_cap_bytes || first.scalar_type() != p.scalar_type() ||
          first.device() != p.device()) {
        close_bucket();
      }
    }
    where_[i] = {buckets_.size(), current.params.size()};
    current.params.push_back(i);
    current.offsets.push_back(current_numel);
    current_bytes += bytes;
    current_numel += p.numel();
  }
  close_bucket();
  stats_.buckets = static_cast<int64_t>(buckets_.size());
  for (auto& b : buckets_) b.filled.assign(b.params.size(), false);
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].requires_grad()) continue;
    hook_ids_.push_back(params_[i].register_hook([this, i](const torch::Tensor& grad) { on_grad(i, grad); }));
  }
}

GradientSync::~GradientSync() {
  size_t h = 0;
  for (auto& p : params_) {
    if (p.requires_grad() && h < hook_ids_.size()) p.remove_hook(hook_ids_[h++]);
  }
}

void GradientSync::on_grad(size_t param, const torch::Tensor& grad) {
  if (!sync_) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto [b, slot] = where_[param];
  Bucket& bucket = buckets_[b];
  torch::NoGradGuard no_grad;
  auto view = bucket.flat.narrow(0, bucket.offsets[slot], grad.numel()).view_as(grad);
  view.copy_(grad);
  const auto& accumulated = params_[param].grad();  // earlier micro-batches, see Note [Accumulation]
  if (accumulated.defined()) view.add_(accumulated);
  view.mul_(1.0 / comm_.world_size());
  if (!bucket.filled[slot]) {
    bucket.filled[slot] = true;
    ++bucket.ready;
  }
  if (overlap_ && bucket.ready == bucket.params.size()) launch_ready_buckets();
}

void GradientSync::launch_ready_buckets() {
  // Note [Bucket order]: strictly in index order.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].ready == buckets_[next_launch_].params.size()) {
    if (!allreduce_) allreduce_.emplace(params_[buckets_[next_launch_].params.front()].device());
    Bucket& b = buckets_[next_launch_];
    const auto launched = TraceRecorder::Clock::now();
    b.work = comm_.allreduce_sum_async(b.flat, "allreduce of gradient bucket " + std::to_string(next_launch_));
    if (trace_ && trace_->recording()) {
      b.work->on_complete([trace = trace_, i = next_launch_, bytes = b.bytes(), launched] {
        trace->add("allreduce bucket " + std::to_string(i), TraceRecorder::bucket_lane(i), launched,
                   TraceRecorder::Clock::now(), {{"bytes", bytes}});
      });
    }
    ++next_launch_;
  }
}

void GradientSync::set_trace(std::shared_ptr<TraceRecorder> trace) {
  trace_ = std::move(trace);
  if (!trace_) return;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    trace_->name_lane(TraceRecorder::bucket_lane(i), fmt::format("bucket {} allreduce ({:.1f} MB, {} tensors)", i,
                                                                 buckets_[i].bytes() / 1e6, buckets_[i].params.size()));
  }
}

void GradientSync::finish() {
  if (buckets_.empty()) return;
  const torch::Device device = buckets_.front().flat.device();
  DeviceInterval exposed(device);
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Parameters that took no part in this forward pass contribute zero gradients.
    torch::NoGradGuard no_grad;
    for (auto& b : buckets_) {
      for (size_t s = 0; s < b.params.size(); ++s) {
        if (b.filled[s]) continue;
        b.flat.narrow(0, b.offsets[s], params_[b.params[s]].numel()).zero_();
        b.filled[s] = true;
        ++b.ready;
      }
    }
    launch_ready_buckets();
  }
  int64_t bytes = 0;
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
    bytes += b.bytes();
  }
  exposed.stop();
  allreduce_->stop();
  unread_.emplace_back(std::move(exposed), std::move(*allreduce_));
  allreduce_.reset();
  read_finished_intervals();  // host clocks at once; on a GPU those whose events have passed
  // Averaged gradients back into param.grad().
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    for (size_t s = 0; s < b.params.size(); ++s) {
      auto& p = params_[b.params[s]];
      const auto avg = b.flat.narrow(0, b.offsets[s], p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(avg);
      } else {
        p.mutable_grad() = avg.clone();
      }
    }
    b.ready = 0;
    std::fill(b.filled.begin(), b.filled.end(), false);
  }
  ++stats_.steps;
  stats_.bytes_allreduced += bytes;
  next_launch_ = 0;
}

void GradientSync::read_finished_intervals(bool all) {
  while (!unread_.empty() && (all || unread_.front().second.ready())) {  // recorded last of the two
    stats_.exposed_comm_seconds += unread_.front().first.seconds();
    stats_.allreduce_seconds += unread_.front().second.seconds();
    unread_.pop_front();
  }
}

const CommStats& GradientSync::stats() {
  read_finished_intervals(/*all=*/true);
  return stats_;
}

void GradientSync::reset_stats() {
  unread_.clear();
  stats_ = CommStats{};
  stats_.buckets = static_cast<int64_t>(buckets_.size());
}

}  // namespace rt
