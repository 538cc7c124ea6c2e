// Run: everything a training run sets up before its first step, in the order it happens
// (run.cpp): the process's place in the job and its communicator, the data (this rank's
// shard), the model, the optimiser and the schedule, the state resumed from a checkpoint,
// the start-up agreement of all ranks, gradient buckets, the run folder. The loop
// (train/trainer.cpp) then only trains.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/config.h"
#include "data/dataset.h"
#include "data/epoch_plan.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "eval/evaluate.h"
#include "model/classifier.h"
#include "model/cuda_graph.h"
#include "model/precision.h"
#include "parallel/communicator.h"
#include "parallel/rendezvous.h"
#include "train/batchnorm_policy.h"
#include "train/batchnorm_replay.h"
#include "train/epoch_stats.h"
#include "train/gradient_exchange.h"
#include "train/lookahead.h"
#include "train/optimizer.h"
#include "train/partition.h"
#include "train/resumed_run.h"
#include "train/schedule.h"
#include "train/step_flags.h"
#include "train/train_step.h"

namespace rt {

struct Run {
  // Validates `cfg`, then sets up as above; `resume` (may be null) is the checkpoint to continue.
  Run(const Config& cfg, const std::string& job_id, CheckpointReader* resume);

  Config cfg;
  DistEnv env;
  int64_t threads = 0;
  torch::Device device = torch::kCPU;
  std::unique_ptr<Communicator> comm;
  int world = 1, rank = 0;

  // --- data: class-balanced subsets of the splits (on the GPU on CUDA) and this rank's shard
  std::string data_root, data_format;
  int64_t skipped_at_load = 0;  // image files left out while loading (--skip-bad-images), in metrics.json
  Dataset train_set, test_set;
  Partition partition;  // how every epoch is cut into micro-batches and steps (train/partition.h)
  double lr = 0;        // the peak learning rate, scaled to the global batch

  // --- model, optimiser, schedule, and where the run starts (train/resumed_run.h): the loop
  //     owns the run state from there on; a checkpoint's metadata is built only when one is saved
  std::shared_ptr<Classifier> model;
  int64_t param_count = 0;
  Precision precision = Precision::kFloat32;
  std::unique_ptr<FusedSgd> optimizer;
  ScheduleSpec schedule;
  ResumedRun resumed;
  std::string job;             // this job's identity, recorded in every checkpoint (train/resume_point.h)
  std::string out;             // the run folder (only rank 0 writes)
  nlohmann::json config_json;  // config.json, which every checkpoint records as its config

  // --- communication and the step
  BatchNormPolicy bn_policy;  // how the replicas' BatchNorm layers stay one model (train/batchnorm_policy.h)
  std::unique_ptr<GradientExchange> exchange;  // buckets, compression and its state (train/gradient_exchange.h)
  std::unique_ptr<StepFlags> flags;
  std::unique_ptr<CudaGraphStep> graph;        // --cuda-graph; from its creation a side stream is current
  std::unique_ptr<BatchNormReplay> bn_replay;  // --global-batch: BatchNorm statistics in the global order
  std::unique_ptr<Lookahead> lookahead;        // --ema-every: the weights' average (train/lookahead.h)
  std::unique_ptr<TrainStep> step;             // all of the above, one optimiser step at a time
  nlohmann::json environment;                  // recorded in config.json and metrics.json

  // This rank's share of `epoch`, and its loader, continuing where the resumed state stands.
  EpochPlan plan(int64_t epoch) const { return plan_epoch(partition.plan, epoch); }
  std::unique_ptr<BatchLoader> loader(int64_t epoch, const EpochPlan& plan) const;
  // The epoch's running sums, on this device, summed over this job's ranks.
  EpochStats epoch_stats() const { return EpochStats(*comm, device); }
  // All ranks: whether `value` holds on any rank.
  bool any_rank(bool value) const;
  // All ranks: the test split, a shard each, counts summed; first rank 0's BatchNorm statistics
  // everywhere where the policy says so. `tta`: the logits of transformed copies (eval/tta.h).
  EvalResult evaluate(Tta tta = Tta::kNone);
  // All ranks: rank 0's BatchNorm statistics everywhere where the policy says so, the gradient
  // compressor's state gathered, every collective before confirmed; then only rank 0 writes
  // `state` and `history` with the weights and optimiser into the run folder.
  void save_checkpoint(const RunState& state, const std::vector<EpochRecord>& history);

 private:
  // The set-up's parts, in order (run.cpp).
  void join_job();
  void load_data();
  void build_model(CheckpointReader* resume);
  void start_up();
  void write_run_folder();
  // Where the BatchNorm policy says so (not with synced batch statistics, where they agree by
  // construction): rank 0's running statistics everywhere. Training never reads them, so this
  // happens only where they are read or kept: before each evaluation and checkpoint.
  void agree_on_bn_statistics();
  std::vector<torch::Tensor> bn_buffers_;
};

}  // namespace rt
