#include "parallel/rendezvous.h"

#include <cstdlib>

#include "core/errors.h"

namespace rt {

namespace {

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

int env_int(const char* name, int fallback, int min_value) {
  const char* v = env_or_null(name);
  if (!v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  RT_CHECK_USER(end && *end == '\0' && x >= min_value && x <= 1 << 20,
                "environment variable {}={} is not an integer >= {}", name, v, min_value);
  return static_cast<int>(x);
}

}  // namespace

DistEnv read_dist_env() {
  DistEnv e;
  // Checked in this order: an explicit RANK (our launcher, torchrun) wins over MPI and Slurm.
  struct Source {
    const char* launcher;
    const char *rank, *size, *local;
  };
  const Source sources[] = {{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
                            {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
                            {"srun", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"}};
  for (const auto& s : sources) {
    if (!env_or_null(s.rank)) continue;
    e.launcher = s.launcher;
    e.rank = env_int(s.rank, 0, 0);
    e.world_size = env_int(s.size, 1, 1);
    e.local_rank = env_int(s.local, 0, 0);
    break;
  }
  if (e.launcher == "torchrun" && env_or_null("RINGTRAIN_LAUNCHED")) e.launcher = "nproc";  // ours
  RT_CHECK_USER(e.rank < e.world_size, "rank {} is not below the world size {} ({} environment)", e.rank, e.world_size,
                e.launcher);
  const char* agent = env_or_null("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && std::string(agent) == "True";
  e.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, 0);
  e.max_restarts = env_int("TORCHELASTIC_MAX_RESTARTS", 0, 0);
  if (const char* id = env_or_null("TORCHELASTIC_RUN_ID")) e.run_id = id;
  if (const char* id = env_or_null("RINGTRAIN_JOB_ID")) e.job_id = id;
  if (const char* addr = env_or_null("MASTER_ADDR")) e.master_addr = addr;
  e.master_port = env_int("MASTER_PORT", e.master_port, 1);
  RT_CHECK_USER(e.master_port <= 65535, "MASTER_PORT={} is not a TCP port", e.master_port);
  return e;
}

int gpu_for_local_rank(int local_rank, int visible_gpus, bool visible_set_per_task) {
  RT_CHECK_USER(visible_gpus > 0, "--device cuda: no CUDA device is visible to local rank {}; use --device cpu",
                local_rank);
  if (visible_gpus == 1 && visible_set_per_task) return 0;
  RT_CHECK_USER(local_rank < visible_gpus,
                "local rank {} has no GPU: {} CUDA devices are visible on this host; start at most {} workers "
                "per host, or give each worker one GPU (CUDA_VISIBLE_DEVICES, srun --gpus-per-task=1)",
                local_rank, visible_gpus, visible_gpus);
  return local_rank;
}

}  // namespace rt
