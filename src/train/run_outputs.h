// The files of a run folder besides checkpoints: the run's environment (library versions,
// device, threads), and the evaluation outputs shared by `train` and `eval`:
// metrics.json, classification_report.txt and confusion_matrix.csv.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "eval/evaluate.h"

namespace rt {

// runs/<YYYYmmdd-HHMMSS> in local time.
std::string default_run_dir();

// Under the built-in launcher: seconds since the job began, restarts included (parallel/
// launcher.h's kJobStartEnv), or -1 elsewhere; and whether this is a restarted attempt.
double job_seconds();
bool job_restarted();
// Under an elastic launcher with a membership log: rank 0 notes that this attempt of `world`
// workers starts from optimiser step `step` (a "resume" event).
void log_attempt_start(int64_t step, int64_t world);

// Library versions, device and thread count, for config.json and metrics.json.
nlohmann::json environment_json(const torch::Device& device);

// Writes metrics.json (the evaluation's metrics merged with `extra`), classification_report.txt
// and confusion_matrix.csv into `dir`.
void write_evaluation_outputs(const std::string& dir, const EvalResult& result,
                              const std::vector<std::string>& class_names, const nlohmann::json& extra);

// Draws the run folder's figures (report/plots.h). A figure that cannot be drawn does not
// fail the finished run: it is named in a warning with the command that retries it.
void write_plots_or_warn(const std::string& dir);

}  // namespace rt
