#include "train/job.h"

#include "core/log.h"
#include "train/run_outputs.h"

namespace rt {

Job join_job(const std::string& device, int64_t threads, const std::string& backend, double timeout_seconds) {
  Job job;
  job.env = read_dist_env();
  set_log_rank(job.env.rank);
  job.threads = set_compute_threads(threads);
  job.device = local_device(device, job.env.local_rank);
  job.comm = make_communicator(job.env, backend, job.device,
                               std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  return job;
}

}  // namespace rt
