// Where this process stands in the job, read from the launcher's environment, and the
// communicator built from it (rendezvous over a c10d TCPStore on MASTER_ADDR:MASTER_PORT).
//   built-in --nproc / torchrun / any launcher: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   mpirun (OpenMPI):  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//   srun (Slurm):      SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID
// With mpirun or srun, MASTER_ADDR/MASTER_PORT must still name rank 0's host and a free port
// (default 127.0.0.1:29500).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>

#include "parallel/communicator.h"

namespace rt {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher = "none";  // "nproc" (ours), "torchrun" (RANK/...), "mpirun", "srun", "none"
  // torchrun's agent already serves the store on MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank, rank 0 included, connects as a client.
  bool agent_store = false;
  // torchrun's TORCHELASTIC_RESTART_COUNT: how many times the agent has restarted the workers.
  int restart_count = 0;
  // torchrun's TORCHELASTIC_MAX_RESTARTS: > 0 when the agent restarts workers (and, with
  // --nnodes MIN:MAX, starts them anew when nodes leave or join).
  int max_restarts = 0;
};

// Reads the environment; throws UserError for malformed or inconsistent values.
DistEnv read_dist_env();

// The GPU (index among the visible ones) of the local rank, as torchrun and Slurm users
// expect: where the launcher or the user narrowed each task's view to one GPU
// (CUDA_VISIBLE_DEVICES set, as `srun --gpus-per-task=1` does) that one; otherwise GPU
// `local_rank`. Throws UserError when the local rank has no GPU (two workers on a one-GPU
// host among them: they would collide on it).
int gpu_for_local_rank(int local_rank, int visible_gpus, bool visible_set_per_task);

// world_size 1: the single-process communicator. Otherwise a TCPStore rendezvous (rank 0
// serves it, bound to MASTER_ADDR only) and a Gloo or NCCL process group. `backend` is
// "gloo", "nccl" or "auto" (NCCL for CUDA devices). Throws CommError on timeout.
std::unique_ptr<Communicator> make_communicator(const DistEnv& env, const std::string& backend,
                                                const torch::Device& device, std::chrono::milliseconds timeout);

}  // namespace rt
