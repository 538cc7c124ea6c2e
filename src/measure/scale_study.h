// The scaling study behind `ringtrain scale`: runs the same training for each world size
// (strong scaling: a fixed global batch; weak: a fixed batch per worker) as child processes,
// benchmarks the step at each batch per worker and allreduce over the same ranks, calibrates
// the step-time model (measure/scaling.h) on the 1-worker run, checks it against the measured
// multi-worker runs, and projects it over chosen links. Its result is one typed record,
// ScaleResult, written as scale.json (with a schema version) and scale.md.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "measure/scaling.h"

namespace rt {

constexpr int kScaleSchemaVersion =
    3;  // 2: rounds, per-round img/s, speedup range; 3: model.bucket_ready (not overlap)

struct ScaleStudyOptions {
  std::vector<int64_t> nproc = {1, 2};  // world sizes, starting with 1
  bool weak = false;
  int64_t batch_size = 128;  // global (strong) or per worker (weak)
  int64_t threads = 1;       // per worker
  std::string out;           // folder of the runs, scale.json, scale.md
  std::vector<int64_t> project_to = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  std::vector<std::string> links = {"fitted", "nvlink", "ib", "100gbe", "10gbe"};
  double link_gbps = 0, link_latency_us = 5;
  double compute_images_per_second = 0;  // per worker, for projecting another device
  int64_t allreduce_iters = 5;
  int64_t rounds = 3;                 // each world size this many times, alternating (1, 2, 1, 2, ...)
  std::string program = "ringtrain";  // argv[0] of the child runs (they run /proc/self/exe)
};

// One world size of the study, measured in `rounds` runs alternating with the other world sizes
// (this machine's speed drifts between minutes; runs next to each other drift together). Each
// run counts its last epoch (start-up costs are in the first); the figures are medians over the
// rounds, and the speedup is the median of each round's img/s over the 1-worker run's of the
// same round, with its range.
struct MeasuredRun {
  int64_t workers = 0, batch_per_worker = 0, global_batch = 0, steps_per_epoch = 0;
  double epoch_train_seconds = 0, images_per_second = 0, speedup = 1, efficiency = 1;
  double exposed_comm_share = 0, overlap_share = 0;
  double compute_seconds_per_step = 0, allreduce_seconds_per_step = 0, bytes_allreduced_per_step = 0;
  std::vector<double> round_images_per_second;  // each round's, in order
  double speedup_min = 1, speedup_max = 1;      // over the rounds
};

struct ValidationRow {
  int64_t workers = 0;
  double measured_images_per_second = 0, predicted_images_per_second = 0;
  double measured_speedup = 1, predicted_speedup = 1;
  double error() const { return predicted_images_per_second / measured_images_per_second - 1; }
};

struct LinkProjection {
  LinkModel link;
  int64_t first_workers_below_90pct = 0;  // 0: efficiency stays above 90%
  std::vector<StepPrediction> rows;
};

struct ScaleResult {
  std::string model;
  ScaleStudyOptions options;
  std::vector<std::string> train_args;
  std::vector<MeasuredRun> measured;
  nlohmann::json allreduce;  // `ringtrain bench --allreduce --json` over allreduce_ranks
  int64_t allreduce_ranks = 2;
  LinkModel fitted;                              // to `allreduce`
  StepModel step_model;                          // calibrated on the 1-worker run
  std::map<int64_t, double> bench_step_seconds;  // batch per worker -> single-process step
  double real_over_bench = 1;                    // the 1-worker run's real step / its step benchmark
  double gradient_bytes = 0;
  std::string compression = "none";  // the runs' --grad-compression (its bytes are in step_model.traffic)
  bool batchnorm = false;            // the model normalises with BatchNorm
  bool sync_bn = false;              // ... over all ranks (--sync-bn)
  std::vector<ValidationRow> validation;
  StepModel projected_model;  // step_model, or the given compute speed
  std::vector<LinkProjection> projection;
};

// The gradient side of the step-time model for `model`: the float32 bytes of each bucket
// GradientSync forms with `cap_bytes`, what each sends with `compression`, and whether the model
// normalises with BatchNorm.
struct GradientBuckets {
  std::vector<double> bytes;
  std::vector<BucketTraffic> traffic;
  std::vector<double> param_bytes;  // float32, per parameter in registration order
  double total_bytes = 0;
  bool batchnorm = false;
};
GradientBuckets gradient_buckets(const std::string& model, double cap_bytes, const GradCompression& compression);

void to_json(nlohmann::json& j, const MeasuredRun& m);
void to_json(nlohmann::json& j, const ScaleResult& r);

// Runs the study into `o.out` (created) and returns it; `train_args` are the training flags.
// Throws UserError for bad options or a failed run.
ScaleResult run_scale_study(const ScaleStudyOptions& o, const std::vector<std::string>& train_args);

// The study as Markdown tables (scale.md).
std::string scale_markdown(const ScaleResult& r);

}  // namespace rt
