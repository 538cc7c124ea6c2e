// What all ranks must agree on after every optimiser step: whether the loss or a gradient was
// not finite on any rank (then every rank skips the update), and whether any rank was asked to
// stop (SIGINT/SIGTERM). One tiny allreduce per step carries both.
//
// Note [Flags one step late]: on a GPU the host must not wait for the step to read them, or
// it could never queue work ahead. The flags are summed over ranks on the device; the
// optimiser takes the non-finite flag from there (FusedSgd's found_inf: a skipped step is
// skipped on the device), and a copy goes to pinned host memory behind an event. The host
// reads step k's flags after it has queued step k + 1, when that copy has long arrived. Every
// rank reads them at the same step, so all act alike (stop, or fail naming step k). On the CPU
// the work is done when the host gets here: the flags are read at once, at their own step.
#pragma once

#include <c10/core/Event.h>
#include <torch/torch.h>

#include <deque>
#include <optional>
#include <vector>

#include "parallel/communicator.h"

namespace rt {

class StepFlags {
 public:
  StepFlags(Communicator& comm, const torch::Device& device);

  struct Flags {
    int64_t step = 0;        // the optimiser step (1-based) they belong to
    bool nonfinite = false;  // some rank had a non-finite loss or gradient: the step was skipped
    bool stop = false;       // some rank was asked to stop
  };

  // What the ranks agreed on, on the device.
  struct Agreed {
    torch::Tensor nonfinite;  // [1] float32, 1 when any rank had a non-finite value (FusedSgd::set_found_inf)
    torch::Tensor images;     // [1] float32, the step's images summed over the ranks
  };
  // After step `step`'s gradients are averaged: sums this rank's flags, and the `images` its
  // micro-batches had, over all ranks (one allreduce). `nonfinite` is [1] float32 on the
  // device (1 or 0).
  Agreed exchange(int64_t step, const torch::Tensor& nonfinite, bool stop_requested, int64_t images = 0);

  // The flags the host reads now, oldest first: on the CPU those of every step exchanged so
  // far; on a GPU all but the newest step's (Note [Flags one step late]), or with `all` every
  // one (before a checkpoint, an evaluation, the end of an epoch).
  std::vector<Flags> take(bool all = false);

 private:
  struct Pending {
    int64_t step;
    torch::Tensor host;                // [3] float32: summed flags (pinned memory on a GPU)
    std::optional<c10::Event> copied;  // GPU: the copy to `host` has arrived
  };
  Communicator& comm_;
  torch::Device device_;
  std::deque<Pending> pending_;
};

}  // namespace rt
