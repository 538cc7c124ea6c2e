// Benchmarks behind `ringtrain bench`: training-step and forward throughput on synthetic data,
// data-pipeline throughput, and allreduce time and bandwidth. Each rate is measured after
// warm-up over several timed repetitions; the median and the spread are reported.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/grad_compression.h"
#include "data/dataset.h"
#include "model/precision.h"
#include "parallel/communicator.h"

namespace rt {

// Images (or bytes) per second of each timed repetition, and their summary.
struct Rate {
  std::vector<double> reps;
  double median() const;
  double min() const;
  double max() const;
  nlohmann::json to_json() const;
};

struct StepBenchSpec {
  std::string model = "resnet18";
  int64_t num_classes = 10;
  int64_t batch_size = 128;
  torch::Device device = torch::kCPU;
  Precision precision = Precision::kFloat32;
  bool channels_last = false;
  bool cuda_graph = false;      // forward + backward replayed as a CUDA graph (model/cuda_graph.h)
  bool cudnn_benchmark = true;  // CUDA: cuDNN's search for its fastest kernels per shape, as training
  int64_t warmup = 3;           // untimed steps first
  int64_t reps = 5;             // timed repetitions ...
  int64_t steps = 5;            // ... of this many steps each
  uint64_t seed = 0;
};

// Training step as the trainer does it (zero_grad(set_to_none), forward under autocast,
// cross-entropy, backward, SGD momentum 0.9 weight decay 1e-4): images/s.
Rate bench_train_step(const StepBenchSpec& spec);
// Inference forward pass (eval mode, no grad, autocast): images/s.
Rate bench_forward(const StepBenchSpec& spec);

// The training data path: shuffle, then for data in memory random crop + flip, for image files
// read + decode + random resized crop + flip; normalise, batch; on `loader_threads` loader
// threads, consumed as fast as it comes: images/s per pass over `data` (`reps` passes after one
// untimed pass, which also fills the page cache and an image cache's entries: its images/s in
// `first_pass` when given).
Rate bench_data_pipeline(const Dataset& data, int64_t batch_size, int64_t reps, int64_t loader_threads = 1,
                         double* first_pass = nullptr);

// Compressing and decompressing one step's gradient buckets of `s.model` with `compression`, the
// buckets as GradientSync forms them with `bucket_cap_bytes`, in one process (the collectives are
// no-ops): steps per second of each timed repetition (refilling the buckets is not timed).
Rate bench_compression(const StepBenchSpec& s, const GradCompression& compression, int64_t bucket_cap_bytes);

// When each gradient is ready in backward, measured on one process: for every parameter (in
// registration order) the share of the backward pass elapsed when its gradient was produced,
// and backward's share of the training step (forward, loss, backward, optimiser step); the
// medians over the timed steps. What the step-time model needs to know how early each gradient
// bucket can start its allreduce (measure/scaling.h).
struct GradientTiming {
  std::vector<double> ready;  // per parameter, in [0, 1]
  double backward_share = 0;
};
GradientTiming bench_gradient_timing(const StepBenchSpec& spec);

// A data set of `n` random images (for the pipeline benchmark without a data folder).
Dataset synthetic_dataset(int64_t n, uint64_t seed);

struct AllreduceRow {
  int64_t bytes = 0;          // float32 bytes averaged (with compression: the gradient bucket's size)
  int64_t payload_bytes = 0;  // bytes put into allreduces (= bytes without compression)
  double seconds = 0;         // median over iterations, the slowest rank's time per iteration
  double algbw_gbs = 0;       // bytes / seconds, in GB/s (1e9); with compression the effective bandwidth
  double busbw_gbs = 0;       // payload / seconds x 2(n-1)/n: each link's traffic, as nccl-tests define it
};

// Sum-allreduce of float32 tensors of every size from `min_bytes` to `max_bytes` (x4 steps, as
// nccl-tests -f 4 would), `iters` timed iterations after `warmup`, on all ranks of `comm`.
// With `compression`, each tensor is a gradient bucket averaged by that compressor
// (parallel/grad_compressor.h), compression and decompression included in the time; the
// bucket is shaped as conv weights of 256 x 2304 (a 3x3 conv of 256 channels), then one
// smaller matrix and a vector for what remains (PowerSGD compresses only the matrices).
std::vector<AllreduceRow> bench_allreduce(Communicator& comm, const torch::Device& device, int64_t min_bytes,
                                          int64_t max_bytes, int64_t iters, int64_t warmup,
                                          const std::optional<GradCompression>& compression = std::nullopt);

}  // namespace rt
