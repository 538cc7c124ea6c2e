// Gradient compressors (--grad-compression, core/grad_compression.h): what GradientSync does
// with a full bucket to turn this rank's gradients into their average over ranks. `none` is
// the plain fp32 allreduce; bf16/fp16 cast the bucket for the allreduce; PowerSGD
// (parallel/powersgd.h) sends a low-rank approximation of each matrix.
//
// Every rank starts the same buckets in the same order (Note [Bucket order] in grad_sync.h), and
// a compressor's collectives for one bucket are issued in the same order on every rank, so a
// compressor that needs several collectives per bucket issues the later ones from wait().
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/grad_compression.h"
#include "parallel/communicator.h"

namespace rt {

// One bucket's reduction in flight, and the bytes it puts into allreduces (the payload each
// rank contributes; a ring allreduce sends about twice that over each rank's link).
struct BucketReduction {
  std::unique_ptr<PendingWork> work;
  int64_t payload_bytes = 0;
};

// State a checkpoint keeps so that a resumed run continues exactly: named tensors equal on
// every rank (`shared`) and this rank's own (`local`, such as PowerSGD's error feedback).
struct CompressorState {
  std::vector<std::pair<std::string, torch::Tensor>> shared, local;
  bool empty() const { return shared.empty() && local.empty(); }
};

class GradCompressor {
 public:
  virtual ~GradCompressor() = default;
  // Starts averaging bucket `index`: `flat` holds this rank's gradients (summed over its
  // micro-batches, not yet divided by the world size) and `views` the same memory per
  // parameter, shaped like it. Once the work's wait() returns, `flat` holds the average.
  virtual BucketReduction start(size_t index, torch::Tensor& flat, const std::vector<torch::Tensor>& views) = 0;
  // After every bucket of an optimiser step has finished.
  virtual void step_done() {}
  virtual std::string name() const = 0;
  virtual CompressorState state() const { return {}; }
  // Restores what state() returned (on a resumed run with as many ranks; with `local` empty
  // when the ranks' own parts cannot be restored, which then start afresh). The state comes
  // from a file: each name, dtype and size is checked against `bucket_numels` (the elements of
  // each gradient bucket) and a tensor that does not fit throws UserError.
  virtual void load_state(const CompressorState& state, const std::vector<int64_t>& bucket_numels) {
    (void)bucket_numels;
    if (!state.empty())
      throw UserError(fmt::format("the checkpoint holds {} state, which {} does not keep",
                                  state.shared.empty() ? state.local.front().first : state.shared.front().first,
                                  name()));
  }
};

std::unique_ptr<GradCompressor> make_grad_compressor(const GradCompression& spec, Communicator& comm);

// A collective followed by host-side work: wait() waits for `first`, then runs `then` (which
// may start and wait for further collectives); on_complete callbacks run after `then`.
class ThenWork : public PendingWork {
 public:
  ThenWork(std::unique_ptr<PendingWork> first, std::function<void()> then)
      : first_(std::move(first)), then_(std::move(then)) {}
  void wait() override;
  void on_complete(std::function<void()> callback) override;

 private:
  std::unique_ptr<PendingWork> first_;
  std::function<void()> then_;
  std::vector<std::function<void()>> callbacks_;
  bool done_ = false;
};

}  // namespace rt
