// Checkpoints: model (parameters and buffers), optimiser (momentum buffers), training
// position (epochs done, optimiser steps: the scheduler's whole state), the run's history,
// its config, and the CPU generator state. Other random streams are derived from the seed
// and position (core/seed.h), so nothing else is needed to resume exactly.
// Files are written atomically (temp file, fsync, rename).
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>

#include "model/classifier.h"

namespace rt {

struct TrainPosition {
  int64_t epochs_done = 0;   // completed epochs
  int64_t global_step = 0;   // optimiser steps taken
};

struct CheckpointMeta {
  std::string model;          // registry name
  int64_t num_classes = 0;
  int64_t param_count = 0;
  TrainPosition position;
  nlohmann::json config;      // the run's Config as JSON
  nlohmann::json history;     // history.json entries so far
  std::vector<std::string> class_names;
};

void save_checkpoint(const std::string& path, Classifier& model, torch::optim::Optimizer& opt,
                     const CheckpointMeta& meta);

// Reads a checkpoint file once; then its parts can be loaded into objects.
class CheckpointReader {
 public:
  // Throws UserError if the file is missing, truncated or not a ringtrain checkpoint.
  CheckpointReader(const std::string& path, const torch::Device& device);
  const CheckpointMeta& meta() const { return meta_; }
  // Loads weights into `model`; throws UserError if it is another architecture/class count.
  void load_model(Classifier& model);
  void load_optimizer(torch::optim::Optimizer& opt);
  void restore_rng();

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  CheckpointMeta meta_;
};

}  // namespace rt
