// Joining the job: where this process stands (rank, world size and launcher, from the
// environment), its log prefix, its compute threads, its device (the local rank's GPU, made
// current) and its communicator. `train` and `bench --allreduce` start the same way.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "parallel/communicator.h"
#include "parallel/rendezvous.h"

namespace rt {

// Picks the device: "auto" = CUDA when available. Throws UserError for cuda without a GPU.
torch::Device resolve_device(const std::string& name);

// Sets the intra-op thread count; returns the count in effect. 0 = all cores, or in a worker
// of the built-in launcher its share of them (RINGTRAIN_WORKER_THREADS).
int64_t set_compute_threads(int64_t threads);

// The local device: "auto" | "cpu" | "cuda"; on CUDA the GPU of the local rank
// (gpu_for_local_rank), made the current device. Throws UserError when this host has no GPU
// for the local rank.
torch::Device local_device(const std::string& name, int local_rank);

struct Job {
  DistEnv env;
  int64_t threads = 0;  // intra-op threads in effect
  torch::Device device = torch::kCPU;
  std::unique_ptr<Communicator> comm;
};

// `device`: auto | cpu | cuda; `threads`: 0 = all cores (or a worker's share); `backend`:
// auto | gloo | nccl; `timeout_seconds` for the rendezvous and every collective.
Job join_job(const std::string& device, int64_t threads, const std::string& backend, double timeout_seconds);

}  // namespace rt
