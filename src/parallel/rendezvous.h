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
  // torchrun's TORCHELASTIC_RUN_ID (its --rdzv-id: "none" unless given; a new UUID with --standalone).
  std::string run_id;
  // RINGTRAIN_JOB_ID: set by the built-in launcher for its workers (the same in every attempt),
  // or by the user (for example to Slurm's job id, kept across a requeue).
  std::string job_id;
};

// Reads the environment; throws UserError for malformed or inconsistent values.
DistEnv read_dist_env();

// The GPU (index among the visible ones) of the local rank, as torchrun and Slurm users
// expect: where the launcher or the user narrowed each task's view to one GPU
// (CUDA_VISIBLE_DEVICES set, as `srun --gpus-per-task=1` does) that one; otherwise GPU
// `local_rank`. Throws UserError when the local rank has no GPU (two workers on a one-GPU
// host among them: they would collide on it).
int gpu_for_local_rank(int local_rank, int visible_gpus, bool visible_set_per_task);

// The job's identity: the same in every attempt of one job (restarts, re-rendezvous after a
// node leaves or joins), new for every job. The resume point (train/resume_point.h) continues
// only this job's checkpoints, so a re-run never mistakes another job's for its own.
//   RINGTRAIN_JOB_ID when set;
//   torchrun with its agent's store: a random identity its first worker leaves in that store,
//     which lives as long as the job's rendezvous (every later attempt reads it);
//   torchrun with a store per round (TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1): "torchrun:" and its
//     --rdzv-id, or "" (it cannot tell its jobs apart) when that is the default "none";
//   otherwise (one process, mpirun, srun) a new one.
// Throws CommError when torchrun's store cannot be reached within `timeout`.
std::string job_identity(const DistEnv& env, std::chrono::milliseconds timeout);
// A new random identity: 16 hex digits.
std::string new_job_identity();

// world_size 1: the single-process communicator. Otherwise a TCPStore rendezvous (rank 0
// serves it, bound to MASTER_ADDR only; under torchrun's shared agent store, a store of the round
// that rank 0 serves: Note [A store for each round]) and a Gloo or NCCL process group. `backend` is
// "gloo", "nccl" or "auto" (NCCL for CUDA devices). Throws CommError on timeout.
std::unique_ptr<Communicator> make_communicator(const DistEnv& env, const std::string& backend,
                                                const torch::Device& device, std::chrono::milliseconds timeout);

}  // namespace rt
