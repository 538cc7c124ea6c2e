// RunState: where a training run stands. It is what a checkpoint saves besides the weights,
// the optimiser and the history, and what a resumed run continues from: the schedule is a
// function of the optimiser step, the data order and augmentation of (seed, epoch, sample)
// (core/seed.h), so these counters and the unfinished epoch's sums are the whole state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

namespace rt {

// Training sums of an epoch so far, over all ranks.
struct EpochSums {
  double loss_x_images = 0;   // sum of batch mean loss x batch size
  double correct = 0;         // correctly classified training images
  double images = 0;          // images counted in the two sums above
  double seconds = 0;         // training time of the epoch so far (before a resume)
  double skipped_images = 0;  // unreadable image files left out (--skip-bad-images)
};

struct RunState {
  int64_t epochs_done = 0;              // completed epochs
  int64_t global_step = 0;              // optimiser steps taken
  int64_t batch_in_epoch = 0;           // micro-batches done in epoch `epochs_done` (0: at an epoch boundary)
  int64_t steps_in_epoch = 0;           // optimiser steps done in it (what --global-batch resumes from)
  int64_t world_size = 0;               // of the run that saved it (0: not recorded, an older checkpoint)
  int64_t skipped_nonfinite_steps = 0;  // steps left out by --skip-nonfinite so far (in metrics.json)
  EpochSums partial;                    // of that unfinished epoch (all zero at a boundary)
};

// The checkpoint's JSON fields of a RunState (flat: epochs_done, global_step, batch_in_epoch,
// steps_in_epoch, world_size, skipped_nonfinite_steps, partial_epoch; the three before partial_epoch
// may be missing). Reading also takes
// partial_epoch as the [loss x images, correct, images, seconds] array that checkpoints written before this struct
// hold.
void write_run_state(nlohmann::json& j, const RunState& s);
RunState read_run_state(const nlohmann::json& j);

}  // namespace rt
