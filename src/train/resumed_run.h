// Where a run starts: the state of the checkpoint it resumes (train/resume_point.h chose the
// file), or nothing for a fresh run. Loading it puts the weights, momentum and random state
// into the model and optimiser; the rest is kept here for the loop (the run state and history,
// which the loop then owns) and the gradient exchange (the compressor's state). Every rank
// loads its own copy; the start-up agreement (train/run.cpp) checks that all loaded the same
// file by its checksum, or none.
#pragma once

#include <string>
#include <vector>

#include "checkpoint/checkpoint.h"
#include "core/config.h"
#include "train/optimizer.h"

namespace rt {

struct ResumedRun {
  std::string file;      // the checkpoint file ("" for a fresh run)
  std::string checksum;  // its CRC-32 ("" for a fresh run)
  RunState state;        // zero for a fresh run
  std::vector<EpochRecord> history;
  SavedCompression compression;
  std::vector<std::pair<std::string, torch::Tensor>> lookahead;  // --ema-every's average (train/lookahead.h)
  bool empty() const { return file.empty(); }
};

// Loads `reader`'s weights, momentum and random state into `model` and `optimizer` (throws
// UserError for another model) and returns the rest, after checking that its position fits
// how this run (`cfg`, `world` workers) cuts its epochs (train/resume_point.h).
ResumedRun resume_run(CheckpointReader& reader, Classifier& model, FusedSgd& optimizer, const Config& cfg,
                      int64_t world);

}  // namespace rt
