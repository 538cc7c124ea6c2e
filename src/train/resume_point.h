// The resume point: which run folder a training run continues from, decided once, before
// anything is built, from the flags, the run folder's newest checkpoint and the job's identity
// (parallel/rendezvous.h job_identity: the same in every attempt of one job, new for each job).
//   1. --out holds checkpoints written by this job: this attempt is a restart (the built-in
//      launcher's --max-restarts, torchrun's restarts and re-rendezvous after a node leaves or
//      joins), so it continues from them, even when --resume names the folder the job began from;
//   2. else --resume DIR: the newest checkpoint of DIR;
//   3. else --out holds checkpoints of another job: refused, one line, exit 2. A re-run into a
//      finished run's folder would otherwise report, or continue, another run's model;
//   4. else a fresh run.
// Where the launcher cannot tell its jobs apart (torchrun with a store per round and the
// default --rdzv-id none: the identity is empty) nothing continues from --out on its own, not
// even a restart: the attempt that refused another job's folder would be restarted too.
// Every rank decides on its own; the start-up agreement (train/run.cpp) then checks that all
// resumed the same checkpoint file, or none.
#pragma once

#include <optional>
#include <string>

namespace rt {

struct ResumeInputs {
  std::string resume;                  // --resume (empty: not given)
  std::string out;                     // --out (empty: a new timestamped folder)
  std::optional<std::string> out_job;  // the job of --out's newest checkpoint; nullopt: --out has none
  std::string job;                     // this job's identity (empty: the launcher cannot tell)
};

// The folder to continue from ("" for a fresh run); throws UserError in case 3.
std::string resume_dir(const ResumeInputs& in);

// Where a run's data position stands and how its epochs are cut.
struct Position {
  int64_t batch_in_epoch = 0;  // micro-batches done in the epoch (0: at an epoch end)
  int64_t world_size = 0;      // 0: not recorded (an older checkpoint)
  int64_t global_batch = 0;    // --global-batch (0: per rank)
  int64_t batch_size = 0, grad_accum = 1;
};
// Whether checkpoint `file`, saved at `saved`, can continue as `here` cuts its epochs: from
// the middle of an epoch only if the rest of it is the samples it had left (the same global
// batch on any number of workers; per rank, the same batch, accumulation and world size). At
// an epoch end anything may change: the schedule then continues by the epochs done. Throws
// UserError naming what to pass.
void check_resume_position(const std::string& file, const Position& saved, const Position& here);

}  // namespace rt
