#include "parallel/grad_sync.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "parallel/buckets.h"

namespace rt {

GradientSync::GradientSync(std::vector<torch::Tensor> params, Communicator& comm, int64_t bucket_cap_bytes,
                           bool overlap, const GradCompression& compression)
    : params_(std::move(params)), where_(params_.size()), comm_(comm), overlap_(overlap) {
  if (comm_.world_size() == 1) return;  // nothing to average: no buckets, no hooks
  compressor_ = make_grad_compressor(compression, comm_);
  // Buckets of the trainable parameters (parallel/buckets.h); a kind is a (dtype, device) pair.
  std::vector<size_t> trainable;
  std::vector<BucketParam> sizes;
  std::vector<std::pair<c10::ScalarType, torch::Device>> kinds;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    if (!p.requires_grad()) continue;
    const std::pair<c10::ScalarType, torch::Device> kind{p.scalar_type(), p.device()};
    auto k = static_cast<size_t>(std::find(kinds.begin(), kinds.end(), kind) - kinds.begin());
    if (k == kinds.size()) kinds.push_back(kind);
    trainable.push_back(i);
    sizes.push_back({p.numel() * static_cast<int64_t>(p.element_size()), static_cast<int>(k)});
  }
  for (const auto& members : assign_buckets(sizes, bucket_cap_bytes)) {
    Bucket b;
    int64_t numel = 0;
    for (const size_t m : members) {
      const size_t i = trainable[m];
      where_[i] = {buckets_.size(), b.params.size()};
      b.params.push_back(i);
      b.offsets.push_back(numel);
      numel += params_[i].numel();
    }
    b.flat = torch::zeros({numel}, params_[b.params.front()].options().requires_grad(false));
    for (size_t s = 0; s < b.params.size(); ++s) {
      const auto& p = params_[b.params[s]];
      b.views.push_back(b.flat.narrow(0, b.offsets[s], p.numel()).view(p.sizes()));
    }
    buckets_.push_back(std::move(b));
  }
  stats_.buckets = static_cast<int64_t>(buckets_.size());
  for (auto& b : buckets_) b.filled.assign(b.params.size(), false);
  for (const size_t i : trainable) {
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
  auto& view = bucket.views[slot];
  view.copy_(grad);
  const auto& accumulated = params_[param].grad();  // earlier micro-batches, see Note [Accumulation]
  if (accumulated.defined()) view.add_(accumulated);
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
    BucketReduction reduction = compressor_->start(next_launch_, b.flat, b.views);
    b.work = std::move(reduction.work);
    b.payload_bytes = reduction.payload_bytes;
    if (trace_ && trace_->recording()) {
      b.work->on_complete([trace = trace_, i = next_launch_, bytes = b.payload_bytes, launched] {
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
        b.views[s].zero_();
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
    bytes += b.payload_bytes;
  }
  compressor_->step_done();
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
      const auto& avg = b.views[s];
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

std::vector<std::pair<std::string, torch::Tensor>> GradientSync::gather_compression_state() {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  if (!compressor_) return out;
  const CompressorState mine = compressor_->state();
  const int rank = comm_.rank(), world = comm_.world_size();
  torch::NoGradGuard no_grad;
  if (rank == 0) {
    for (const auto& [name, t] : mine.shared) out.emplace_back(name, t.clone());
  }
  // Each rank's own tensors, one allreduce each: every rank fills its row of zeros. Every rank
  // holds the same names and shapes (the same buckets, the same steps).
  for (const auto& [name, t] : mine.local) {
    auto rows = torch::zeros({world, t.numel()}, t.options());
    rows[rank].copy_(t.reshape({-1}));
    comm_.allreduce_sum(rows, "gather of the gradient compression state for a checkpoint");
    if (rank == 0) {
      for (int r = 0; r < world; ++r) out.emplace_back(fmt::format("rank{}/{}", r, name), rows[r].view_as(t).clone());
    }
  }
  return out;
}

void GradientSync::load_compression_state(const std::vector<std::pair<std::string, torch::Tensor>>& saved,
                                          int64_t saved_world) {
  if (!compressor_ || saved.empty()) return;
  CompressorState state;
  const std::string own = fmt::format("rank{}/", comm_.rank());
  // On another number of ranks each rank starts from the mean of the saved ranks' tensors
  // (for PowerSGD's error feedback, the gradient that the average has not yet received: its
  // mean over the new ranks stays what it was).
  std::map<std::string, std::pair<torch::Tensor, int64_t>> mean;  // name -> (sum, ranks)
  for (const auto& [name, t] : saved) {
    if (name.rfind("rank", 0) != 0) {
      state.shared.emplace_back(name, t);
    } else if (saved_world == comm_.world_size()) {
      if (name.rfind(own, 0) == 0) state.local.emplace_back(name.substr(own.size()), t);
    } else if (const size_t slash = name.find('/'); slash != std::string::npos) {
      auto& [sum, ranks] = mean[name.substr(slash + 1)];
      sum = sum.defined() && sum.sizes() == t.sizes() ? sum + t : t.clone();  // a crafted mismatch: refused below
      ++ranks;
    }
  }
  for (auto& [name, sum] : mean) state.local.emplace_back(name, sum.first / static_cast<double>(sum.second));
  std::vector<int64_t> bucket_numels;
  for (const auto& b : buckets_) bucket_numels.push_back(b.flat.numel());
  compressor_->load_state(state, bucket_numels);
}

void GradientSync::reset_stats() {
  unread_.clear();
  stats_ = CommStats{};
  stats_.buckets = static_cast<int64_t>(buckets_.size());
}

}  // namespace rt
