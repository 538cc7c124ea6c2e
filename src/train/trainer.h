// The training run: data, model, optimiser and schedule wired together; the loop; per-epoch
// evaluation, history and checkpoint; final metrics and reports.
#pragma once

#include <string>

#include "core/config.h"

namespace rt {

struct RunSummary {
  std::string out_dir;
  double test_accuracy = 0;  // after the last epoch
  double best_test_accuracy = 0;
  double train_images_per_second = 0;
};

// Trains as `cfg` says (validated here); with cfg.resume set, continues that run's checkpoint.
// `job` is recorded in every checkpoint (train/resume_point.h); "" gives the run an identity of its own.
RunSummary train(const Config& cfg, const std::string& job = "");

}  // namespace rt
