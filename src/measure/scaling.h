// Scaling analysis: measured strong/weak scaling summaries, and a step-time model calibrated on
// measurements and projected to large clusters.
//
// The model (data-parallel SGD with bucketed ring allreduce overlapped with backward):
//   compute(b)       = seconds per step with b images per worker: interpolated between measured
//                      points (batch, seconds), proportional to b outside them
//   ring(S, N)       = 2(N-1) * alpha + 2(N-1)/N * S / beta   (one allreduce of S bytes)
//   S_k              = the bytes bucket k sends during backward with the run's gradient
//                      compression (parallel/compression_plan.h); Q_k those of a second
//                      allreduce after backward (PowerSGD's Q), 0 for the others
//   comm(N)          = sum over buckets k of ring(S_k, N)
//   after(N)         = sum over buckets k with Q_k > 0 of ring(Q_k, N)
//   exposed(N)       = max(ring(S_last, N), comm(N) - overlap * backward(b)) + after(N), or
//                      with measured readiness r_k (the share of backward done when bucket k's
//                      last gradient is produced) the pipeline the buckets form on the link,
//                      launched in order: end_k = max(r_k backward(b), end_{k-1}) + ring(S_k, N),
//                      exposed(N) = max(0, end_last - backward(b)) + after(N)
//   step(N)          = compute(b) + compress + sync + exposed(N)
// alpha (seconds per hop) and beta (bytes/s per link) are fitted by least squares to measured
// allreduce times; the compute points come from measured single-worker steps; `overlap` is the
// share of backward that communication can hide behind (measured from a 2-worker run when
// there is one, else 1 - 1/buckets); `compress` is the time compressing and decompressing
// takes per step (not hidden: on a CPU it runs in backward's thread and after it); `sync` is the
// per-step cost of keeping N > 1 workers in lock-step that the other terms miss (waiting for the
// slower worker, the communication threads' CPU taken from compute where cores are shared, the
// bucket copies), calibrated as the residual of one measured multi-worker run on another link
// (calibrate_sync_seconds), 0 when none is given.
// Communication stops being hidden when comm(N) exceeds the backward window; from there
// efficiency falls.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "parallel/compression_plan.h"

namespace rt {

struct LinkModel {
  double alpha = 0;  // seconds per hop (latency)
  double beta = 0;   // bytes per second per link
  std::string name;
};

// Ring allreduce time of `bytes` over `n` ranks.
double ring_allreduce_seconds(const LinkModel& link, double bytes, int64_t n);

// Fits alpha and beta to (bytes, seconds) measured over `n` ranks, t = 2(n-1) alpha +
// 2(n-1)/n S / beta: beta by least squares over the larger half of the sizes, alpha from the
// median of the smaller half (robust to small messages' bimodal times). Throws UserError with
// fewer than two sizes.
LinkModel fit_link(const std::vector<std::pair<double, double>>& bytes_seconds, int64_t n);

// The fit to the plain float32 rows of a `ringtrain bench --allreduce --json` output (rows
// through a compressor are skipped). Throws UserError if it is not one.
LinkModel fit_link_to_allreduce(const nlohmann::json& bench_allreduce);

// A link of `gbps` Gbit/s with `latency_us` microseconds per hop, named after its rate.
LinkModel link_of_rate(double gbps, double latency_us);

// Named links: nvlink (H100 NVLink 4: 450 GB/s, 2 us), ib (HDR InfiniBand 200 Gb/s, 2 us),
// 100gbe (12.5 GB/s, 10 us), 10gbe (1.25 GB/s, 30 us). Throws UserError for other names.
LinkModel link_preset(const std::string& name);
std::vector<std::string> link_preset_names();

struct StepModel {
  // Measured (batch per worker, seconds per step), at least one; see compute_seconds().
  std::vector<std::pair<double, double>> compute_points;
  double backward_share = 2.0 / 3;   // backward's share of compute
  double overlap = 1.0;              // share of backward that communication can hide behind
  std::vector<double> bucket_ready;  // measured readiness r_k per bucket (same order); empty: `overlap`
  std::vector<double> bucket_bytes;  // float32 gradient bytes, in launch order (the last is the last launched)
  // What each bucket sends with the run's compression (same order); empty: bucket_bytes as they are.
  std::vector<BucketTraffic> traffic;
  double compress_seconds = 0;  // per step, compressing and decompressing every bucket (N > 1)
  double sync_seconds = 0;      // per step, the lock-step cost the other terms miss (N > 1)
};

// The share of backward that communication can hide behind when no multi-worker run measured
// it: all buckets but the last one (0 with a single bucket).
double unmeasured_overlap(size_t buckets);

// Seconds per step for `batch` images per worker: linear between the two nearest points;
// below the smallest and above the largest, the nearest point's time per image times `batch`.
double compute_seconds(const StepModel& m, double batch);

struct StepPrediction {
  int64_t workers = 1;
  double compute_seconds = 0, comm_seconds = 0, exposed_seconds = 0, step_seconds = 0;
  double images_per_second = 0, speedup = 1, efficiency = 1;
  std::vector<std::string> flags;  // caveats of this row, in words (set by the scaling study)
  nlohmann::json to_json() const;
};

// Predicted step for `n` workers with `batch_per_worker` images each, over `link`.
StepPrediction predict_step(const StepModel& m, const LinkModel& link, int64_t n, int64_t batch_per_worker);

// The sync_seconds that make the model's step time for `n` workers with `batch_per_worker`
// images each over `link` equal a measured run's `images_per_second` (all workers together);
// `m` is the model of that run (its compression, its sync_seconds ignored). Never negative.
double calibrate_sync_seconds(StepModel m, const LinkModel& link, int64_t n, int64_t batch_per_worker,
                              double images_per_second);

// Predictions for every n in `workers` with speedup and efficiency against n = 1 (strong
// scaling: global batch fixed, so batch_per_worker = global / n; weak: batch per worker fixed).
std::vector<StepPrediction> project(const StepModel& m, const LinkModel& link, const std::vector<int64_t>& workers,
                                    int64_t batch, bool weak);

// The smallest n in `predictions` whose efficiency is below `threshold` (0 if none).
int64_t first_inefficient(const std::vector<StepPrediction>& predictions, double threshold);

// The byte size of each gradient bucket GradientSync forms (parallel/buckets.h) from parameter
// byte sizes in registration order, in launch order.
std::vector<double> bucket_sizes(const std::vector<double>& param_bytes, double cap_bytes);

// When each of those buckets is ready: the latest of its parameters' readiness (the share of
// backward done when the gradient is produced, bench_gradient_timing), in launch order.
std::vector<double> bucket_readiness(const std::vector<double>& param_bytes, const std::vector<double>& param_ready,
                                     double cap_bytes);

// What each of those buckets sends with `compression`, from the float32 parameters' shapes in
// registration order (after PowerSGD's warm-up).
std::vector<BucketTraffic> bucket_traffics(const std::vector<std::vector<int64_t>>& param_shapes, double cap_bytes,
                                           const GradCompression& compression);

}  // namespace rt
