// Gradient synchronisation as PyTorch DDP's Reducer does it: parameters are grouped into
// buckets of at most `bucket_cap_bytes`, in reverse order of registration (about the order in
// which backward produces their gradients). A hook on each parameter copies its gradient into
// its bucket; when a bucket is full its reduction starts at once (the compressor's: by default
// divide by the world size and allreduce; parallel/grad_compressor.h), while backward goes on
// computing earlier layers. finish() waits for all buckets and writes the averaged gradients
// back into param.grad().
//
// Note [Bucket order]: every rank must launch the same collectives in the same order. Buckets
// are launched strictly in index order: a bucket that fills early waits for the ones before it.
//
// Note [Accumulation]: with gradient accumulation, hooks are inactive (set_sync(false)) for all
// but the last micro-batch; on the last one a hook adds the gradient accumulated so far in
// param.grad() to the new one before copying it into the bucket.
#pragma once

#include <torch/torch.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/grad_compression.h"
#include "core/trace.h"
#include "device/device_timer.h"
#include "parallel/communicator.h"
#include "parallel/grad_compressor.h"

namespace rt {

// Seconds are measured where the work runs (device/device_timer.h): on a GPU by events on the
// compute stream, read when stats() is asked for, never during a step.
struct CommStats {
  int64_t steps = 0;
  int64_t bytes_allreduced = 0;     // payload bytes put into allreduces (after compression), all steps
  double exposed_comm_seconds = 0;  // after backward's last kernel, until the averaged gradients are there
  double allreduce_seconds = 0;     // first bucket launch -> last bucket done, summed
  int64_t buckets = 0;              // buckets per step
};

class GradientSync {
 public:
  // `params` in registration order. With `overlap` false, nothing is launched during
  // backward: finish() reduces every bucket afterwards (the flat reference behaviour).
  GradientSync(std::vector<torch::Tensor> params, Communicator& comm, int64_t bucket_cap_bytes, bool overlap = true,
               const GradCompression& compression = {});
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Whether the next backward communicates (false for non-final accumulation micro-batches).
  void set_sync(bool sync) { sync_ = sync; }
  // Call after backward when sync was on: waits for every bucket, writes averaged gradients.
  void finish();

  // Records each bucket's allreduce, launch to completion, while `trace` is recording. The
  // completion callbacks share ownership of the recorder: a collective that fails may finish
  // after the trainer has dropped its own (it does in the process group's destructor).
  void set_trace(std::shared_ptr<TraceRecorder> trace);

  // The steps' figures since reset_stats() (on a GPU this waits for the last step's events).
  const CommStats& stats();
  void reset_stats();
  size_t num_buckets() const { return buckets_.size(); }
  std::string compression() const { return compressor_ ? compressor_->name() : "none"; }

  // The compressor's state for a checkpoint, gathered: a collective, all ranks call it. On rank 0
  // the shared tensors under their names and each rank's own as "rank<r>/<name>"; empty elsewhere.
  std::vector<std::pair<std::string, torch::Tensor>> gather_compression_state();
  // Restores it from what gather_compression_state() gave a checkpoint saved with `saved_world`
  // ranks; with another world size every rank starts from the mean of the saved ranks' own parts.
  void load_compression_state(const std::vector<std::pair<std::string, torch::Tensor>>& saved, int64_t saved_world);

 private:
  struct Bucket {
    std::vector<size_t> params;        // indices into params_
    std::vector<int64_t> offsets;      // element offset of each parameter in `flat`
    torch::Tensor flat;                // [sum of numel] same dtype/device as the parameters
    std::vector<torch::Tensor> views;  // per slot: its part of `flat`, shaped like the parameter
    std::vector<bool> filled;          // per slot: gradient copied in this step
    size_t ready = 0;                  // number of filled slots
    std::unique_ptr<PendingWork> work;
    int64_t payload_bytes = 0;  // of the reduction in flight
    int64_t bytes() const { return flat.numel() * static_cast<int64_t>(flat.element_size()); }
  };
  void on_grad(size_t param, const torch::Tensor& grad);
  void launch_ready_buckets();
  // Adds the unread intervals to stats_: those already measured, or with `all` every one.
  void read_finished_intervals(bool all = false);

  std::vector<torch::Tensor> params_;
  std::vector<std::pair<size_t, size_t>> where_;  // param -> (bucket, slot)
  std::vector<Bucket> buckets_;
  Communicator& comm_;
  std::unique_ptr<GradCompressor> compressor_;
  bool overlap_;
  bool sync_ = true;
  size_t next_launch_ = 0;
  std::optional<DeviceInterval> allreduce_;                       // this step's: from its first bucket launch
  std::deque<std::pair<DeviceInterval, DeviceInterval>> unread_;  // (exposed, allreduce) of steps not yet read
  std::vector<unsigned> hook_ids_;
  std::shared_ptr<TraceRecorder> trace_;
  CommStats stats_;
  std::mutex mu_;
};

}  // namespace rt
