// The built-in launcher (`ringtrain train --nproc N`): starts N local workers (this same
// binary, same arguments), each with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
// and its share of the cores; prefixes every output line with the worker's rank; forwards
// SIGINT/SIGTERM; and when a worker fails, stops the others promptly and reports which rank
// failed and its last error line.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace rt {

// Set in each worker's environment: a worker never launches workers itself.
constexpr const char* kWorkerEnv = "RINGTRAIN_LAUNCHED";
// Compute threads for a worker that was not given --threads.
constexpr const char* kWorkerThreadsEnv = "RINGTRAIN_WORKER_THREADS";
// When the job began (wall-clock seconds since 1970), the same in every attempt: a restarted
// job's wall time and throughput count its failures, restarts and stalls.
constexpr const char* kJobStartEnv = "RINGTRAIN_JOB_START";
constexpr const char* kAttemptEnv = "RINGTRAIN_ATTEMPT";  // 0 for the first start, then 1, 2, ... per restart
// With a membership log (LaunchSpec::membership_log): its path, where rank 0 adds a "resume"
// event (the step it resumed from), and a file where rank 0 keeps the last step it finished,
// which the launcher reads into a "failure" event (the work since the newest checkpoint is lost).
constexpr const char* kMembershipLogEnv = "RINGTRAIN_MEMBERSHIP_LOG";
constexpr const char* kLastStepFileEnv = "RINGTRAIN_LAST_STEP_FILE";

struct LaunchSpec {
  int nproc = 1;
  std::vector<std::string> argv;  // the command line to run in each worker (argv[0] ignored)
  int threads_per_worker = 0;     // compute threads per worker; 0 = this host's cores / nproc (at least 1)
  // false: workers' standard output passes through unprefixed (for machine-readable output
  // that only rank 0 prints); standard error is always prefixed.
  bool prefix_stdout = true;
  // Elastic restart: when a worker fails (for any reason but a user error, exit code 2), stop
  // all and start the group again with the same command line, up to max_restarts times (the
  // workers know their job's checkpoints: train/resume_point.h).
  int max_restarts = 0;
  // Elastic membership (min_nproc > 0): a worker slot that fails kFailuresToDrop times is dropped
  // and the group restarts without it, on the largest world size `world_ok` accepts, down to
  // min_nproc; below it the launcher gives up (kExitCommError) naming the failed slots. Each
  // slot keeps its LOCAL_RANK (its device) while RANK is renumbered 0..n-1.
  int min_nproc = 0;
  std::function<bool(int)> world_ok;
  // When set, the launcher appends one JSON line per membership event to this file: {"seconds"
  // since the job began, "event": start|failure|drop, "world_size", "slots"; failure and drop:
  // "slot", "rank", "exit_code"; failure: "step", the last step rank 0 finished}; rank 0 adds
  // "resume" events (kMembershipLogEnv). `last_step_file` is where rank 0 keeps that step.
  std::string membership_log, last_step_file;
};

// Failures of one worker slot after which the elastic launcher drops it.
constexpr int kFailuresToDrop = 2;

// A free TCP port on 127.0.0.1 (released again: the caller binds it soon after).
int free_local_port();

// Runs the workers to completion; returns the exit code for the launcher: 0 when all
// succeeded, else the last failed worker's code (128 + signal when it was killed).
int launch_local_workers(const LaunchSpec& spec);

}  // namespace rt
