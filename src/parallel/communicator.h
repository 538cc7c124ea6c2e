// Communicator: what training needs from the other ranks. Two implementations: SingleProcess
// (world size 1, every call a no-op, so the loop never branches on world size) and C10d
// (ProcessGroupGloo on CPU tensors, ProcessGroupNCCL on CUDA tensors; both run ring
// allreduce: our Ring-AllReduce). Only src/parallel/ names Gloo or NCCL.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rt {

// A collective in flight. wait() blocks until it completes or the timeout passes, and
// throws CommError naming the operation and what went wrong.
class PendingWork {
 public:
  virtual ~PendingWork() = default;
  virtual void wait() = 0;
  // Calls `callback` once the collective has finished (succeeded or failed), on whichever
  // thread sees it finish (for NCCL: once its kernel has run on the GPU); at once when it
  // already has. For timelines (core/trace.h).
  virtual void on_complete(std::function<void()> callback) = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;  // "none", "gloo" or "nccl"

  // In-place sum over ranks, started asynchronously.
  virtual std::unique_ptr<PendingWork> allreduce_sum_async(torch::Tensor& t, const std::string& what) = 0;
  // In-place broadcast of every tensor from `root`.
  virtual void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;
  // Returns on the host once every collective this rank started has ended without error;
  // throws CommError when one failed, or when the timeout passes. For what keeps the results
  // of collectives (a checkpoint): on NCCL a host read of a result does not show that the
  // collective behind it was aborted (Note [Waits and timeouts]).
  virtual void confirm(const std::string& what) = 0;

  void allreduce_sum(torch::Tensor& t, const std::string& what) { allreduce_sum_async(t, what)->wait(); }
};

// Start-up agreement (as DDP's parameter-shape check): throws UserError on every rank when
// `fingerprint` (a hash of what must be equal: configuration, parameter shapes, data sizes)
// differs between ranks. `device` is where the communicator's tensors live; `fix` says what to do.
void check_ranks_agree(Communicator& comm, const std::string& what, uint64_t fingerprint, const torch::Device& device,
                       const std::string& fix = "start every rank with the same flags, data and ringtrain build");

// For each flag: true on every rank when it is true on any rank (one tiny allreduce for all).
std::vector<bool> any_rank_true(Communicator& comm, const std::vector<bool>& local, const torch::Device& device);

// Every rank's `mine`, in rank order, on every rank (two allreduces: the lengths, then the
// bytes, each rank filling its own row). For small payloads such as trace events.
std::vector<std::string> all_gather_strings(Communicator& comm, const std::string& mine, const torch::Device& device,
                                            const std::string& what);

// World size 1: nothing to communicate.
std::unique_ptr<Communicator> make_single_process_communicator();

}  // namespace rt
