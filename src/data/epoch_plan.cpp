#include "data/epoch_plan.h"

#include <algorithm>

#include "core/errors.h"

namespace rt {

int64_t EpochPlan::first_batch_of_step(int64_t step) const {
  const auto it =
      std::find_if(batches.begin(), batches.end(), [step](const PlannedBatch& b) { return b.step >= step; });
  return static_cast<int64_t>(it - batches.begin());
}

bool shares_global_batch(int64_t global_batch, int64_t batch_size, int64_t world_size) {
  return global_batch > 0 && global_batch % (batch_size * world_size) == 0;
}

int64_t accumulation_for(int64_t global_batch, int64_t batch_size, int64_t world_size) {
  const int64_t per_round = batch_size * world_size;
  RT_CHECK_USER(shares_global_batch(global_batch, batch_size, world_size),
                "--global-batch {} is not a multiple of --batch-size {} x {} workers = {}: choose a global batch "
                "that is (e.g. {}), or another --batch-size",
                global_batch, batch_size, world_size, per_round,
                std::max<int64_t>(1, (global_batch + per_round - 1) / per_round) * per_round);
  return global_batch / per_round;
}

namespace {

// Per rank: the rank's shard (padded, strided) cut into micro-batches; a last micro-batch of
// one image is dropped (it cannot be batch-normalised).
EpochPlan per_rank(const PlanSpec& s, int64_t epoch) {
  EpochPlan p;
  p.samples = epoch_shard(s.shard, epoch);
  const auto n = static_cast<int64_t>(p.samples.size());
  const bool drop_last = n % s.batch_size == 1 && n > 1;
  const int64_t micro = drop_last ? n / s.batch_size : (n + s.batch_size - 1) / s.batch_size;
  p.samples.resize(static_cast<size_t>(std::min(n, micro * s.batch_size)));
  p.steps = (micro + s.grad_accum - 1) / s.grad_accum;
  for (int64_t b = 0; b < micro; ++b) {
    PlannedBatch pb;
    pb.step = b / s.grad_accum;
    pb.index = b % s.grad_accum;
    pb.count = std::min(s.grad_accum, micro - pb.step * s.grad_accum);
    pb.divisor = static_cast<double>(pb.count);
    pb.size = std::min(s.batch_size, static_cast<int64_t>(p.samples.size()) - b * s.batch_size);
    pb.micro = pb.index;
    pb.step_micros = pb.count;
    p.batches.push_back(pb);
  }
  return p;
}

// By global batch: Note [World-size-invariant epochs].
EpochPlan by_global_batch(const PlanSpec& s, int64_t epoch) {
  const int64_t world = s.shard.world_size, rank = s.shard.rank;
  const int64_t per_step = s.global_batch / s.batch_size;  // micro-batches in a full step
  ShardSpec whole = s.shard;
  whole.world_size = 1;
  whole.rank = 0;
  const std::vector<int64_t> order = epoch_shard(whole, epoch);
  const auto n = static_cast<int64_t>(order.size());
  // Micro-batch boundaries: every batch_size samples; a last one of a single sample joins the
  // one before it (it could not be batch-normalised alone).
  std::vector<int64_t> starts;
  for (int64_t b = 0; b < n; b += s.batch_size) starts.push_back(b);
  if (n - starts.back() == 1 && starts.size() > 1) starts.pop_back();
  starts.push_back(n);
  const auto micros = static_cast<int64_t>(starts.size()) - 1;
  EpochPlan p;
  p.steps = (micros + per_step - 1) / per_step;
  for (int64_t step = 0; step < p.steps; ++step) {
    const int64_t first = step * per_step, last = std::min(micros, first + per_step);  // [first, last)
    const double step_images = static_cast<double>(starts[last] - starts[first]);
    const int64_t mine = (last - first - rank + world - 1) / world;  // m = first + rank, rank + N, ...
    const int64_t count = std::max<int64_t>(mine, 1);
    if (mine == 0) {
      p.batches.push_back({step, 0, count, 1.0, 0, -1, last - first, step_images});
      continue;
    }
    int64_t index = 0;
    for (int64_t m = first + rank; m < last; m += world) {
      const int64_t size = starts[m + 1] - starts[m];
      p.samples.insert(p.samples.end(), order.begin() + starts[m], order.begin() + starts[m + 1]);
      const double divisor = step_images / (static_cast<double>(size) * static_cast<double>(world));
      p.batches.push_back({step, index++, count, divisor, size, m - first, last - first, step_images});
    }
  }
  return p;
}

}  // namespace

EpochPlan plan_epoch(const PlanSpec& spec, int64_t epoch) {
  RT_CHECK_USER(spec.batch_size > 0, "--batch-size must be positive, got {}", spec.batch_size);
  if (spec.global_batch <= 0) return per_rank(spec, epoch);
  accumulation_for(spec.global_batch, spec.batch_size, spec.shard.world_size);
  return by_global_batch(spec, epoch);
}

}  // namespace rt
