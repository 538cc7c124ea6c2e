// The typed records of a training run and their JSON, in one place: EpochRecord is one entry of
// history.json (and of a checkpoint's history), RunMetrics the run's part of metrics.json (the
// evaluation's metrics are written beside it by report/writers.h). Each carries
// kRecordSchemaVersion; records written before it (no version) read as version 1. Version 2
// adds comm.compression (read as "none" from older records); version 3 metrics.json's
// membership (empty from older records); version 4 the data wait and skipped images (0 from
// older records); version 5 metrics.json's test-time augmentation ("none", the plain accuracy
// and 0 s from older records).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/membership.h"

namespace rt {

constexpr int kRecordSchemaVersion = 5;

// Communication accounting of an epoch, per optimiser step (parallel/grad_sync.h).
struct CommRecord {
  std::string backend;                       // "none", "gloo" or "nccl"
  std::string compression = "none";          // --grad-compression (core/grad_compression.h)
  int64_t buckets = 0;                       // gradient buckets per step
  double bytes_allreduced_per_step = 0;      // payload after compression
  double exposed_comm_seconds_per_step = 0;  // waiting for gradients after backward
  double compute_seconds_per_step = 0;       // the rest of the step
  double allreduce_seconds_per_step = 0;     // first bucket launched -> last one done
  double exposed_comm_share = 0;             // of the epoch's training time
  double overlap_share = 0;                  // of the allreduce time, hidden behind backward
};

struct EpochRecord {
  int64_t epoch = 0;                          // 1-based
  double train_loss = 0, train_accuracy = 0;  // over all ranks
  double test_loss = 0, test_accuracy = 0;
  double lr = 0;                 // of the epoch's last step
  double train_seconds = 0;      // the batches
  double seconds = 0;            // with evaluation
  double images_per_second = 0;  // training images of all ranks / train_seconds
  int64_t world_size = 1;
  int64_t global_batch = 0;
  double data_wait_seconds = 0;  // rank 0's training time spent waiting for the loader's batches
  int64_t skipped_images = 0;    // unreadable image files left out, all ranks (--skip-bad-images)
  CommRecord comm;
};

void to_json(nlohmann::json& j, const CommRecord& r);
void from_json(const nlohmann::json& j, CommRecord& r);
void to_json(nlohmann::json& j, const EpochRecord& r);
void from_json(const nlohmann::json& j, EpochRecord& r);

struct RunMetrics {
  std::string model;
  int64_t param_count = 0, epochs = 0, steps = 0, world_size = 1, global_batch = 0;
  double test_accuracy = 0, best_test_accuracy = 0;  // the final test's (with `tta`); the epochs' best (without)
  int64_t best_epoch = 0;
  std::string tta = "none";              // the final test's test-time augmentation (eval/tta.h)
  double test_accuracy_without_tta = 0;  // the last epoch's plain evaluation
  double tta_seconds = 0;                // the final test with TTA (after the epochs' time)
  double total_seconds = 0, train_seconds = 0, train_images_per_second = 0;
  CommRecord comm_last_epoch;
  std::string weights_fingerprint;                // rank 0's
  std::vector<std::string> replica_fingerprints;  // every rank's, in rank order
  int64_t skipped_nonfinite_steps = 0;
  int64_t skipped_images = 0;  // unreadable image files left out while loading and over all epochs (--skip-bad-images)
  double data_wait_share = 0;  // of rank 0's training time, waiting for the loader's batches
  std::string checkpoint;
  nlohmann::json environment;               // library versions, device, data, world (train/run_outputs.h)
  std::vector<MembershipEvent> membership;  // the built-in launcher's log (core/membership.h), when there is one
};

void to_json(nlohmann::json& j, const RunMetrics& m);
void from_json(const nlohmann::json& j, RunMetrics& m);

// A finished training run's metrics.json; UserError naming the file when it is missing, an
// `eval` folder's, or damaged.
RunMetrics read_run_metrics(const std::string& path);

// A run's history.json; UserError naming the file when it is not one.
std::vector<EpochRecord> read_history_file(const std::string& path);

// Totals over the epochs of a run (a resumed run's included).
struct RunTotals {
  double seconds = 0, train_seconds = 0, train_images = 0;
  double best_test_accuracy = 0;
  int64_t best_epoch = 0;
  double images_per_second() const { return train_seconds > 0 ? train_images / train_seconds : 0; }
};
RunTotals run_totals(const std::vector<EpochRecord>& history);

}  // namespace rt
