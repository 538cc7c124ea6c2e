// The training run: data, model, optimiser and schedule wired together; the loop; per-epoch
// evaluation, history and checkpoint; final metrics and reports.
#pragma once

#include <memory>
#include <string>

#include "checkpoint/checkpoint.h"
#include "core/config.h"

namespace rt {

struct RunSummary {
  std::string out_dir;
  double test_accuracy = 0;  // after the last epoch
  double best_test_accuracy = 0;
  double train_images_per_second = 0;
};

// Trains as `cfg` says (validated here), continuing `resume` (the checkpoint the resume point
// chose, train/resume_point.h), or without it the newest checkpoint of cfg.resume if set.
// `job` is recorded in every checkpoint; "" gives the run an identity of its own.
RunSummary train(const Config& cfg, const std::string& job = "", std::unique_ptr<CheckpointReader> resume = nullptr);

}  // namespace rt
