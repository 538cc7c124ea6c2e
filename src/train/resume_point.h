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

}  // namespace rt
