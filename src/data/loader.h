// BatchLoader: yields an epoch's batches in order, built by a pool of background threads up to
// `prefetch` batches ahead so that the model does not wait for data. Each thread builds whole
// batches (a batch is the same whichever thread builds it), ATen's own threads held back there
// so that the loader's threads and the model's share the cores as configured.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"

namespace rt {

struct Batch {
  torch::Tensor images;              // [B, 3, S, S] float32, normalised (and augmented for training)
  torch::Tensor labels;              // [B] int64
  int64_t index = 0;                 // batch number within the epoch
  std::vector<std::string> skipped;  // files left out of it (LoaderSpec::skip_bad), "path: reason"
};

struct LoaderSpec {
  int64_t batch_size = 128;
  // The batches' sizes in order, when they are not all batch_size (data/epoch_plan.h; 0: an
  // empty batch); they add up to the samples given. Empty: cut into batch_size (and drop_last).
  std::vector<int64_t> batch_sizes;
  Augmentation augment;    // 32x32 images in memory; image files: on (random resized crop + flip) or off
  bool drop_last = false;  // drop a last batch smaller than batch_size
  uint64_t seed = 0;
  int64_t epoch = 0;
  int64_t first_batch = 0;  // start here (resuming inside an epoch)
  int64_t prefetch = 3;     // batches built ahead of the one being used (at least `threads`)
  int64_t threads = 1;      // loader threads building batches
  bool skip_bad = false;    // streamed files: leave out unreadable images instead of failing
  bool pin_memory = false;  // page-locked batches for non-blocking copies to a GPU
  // Build batches with a DeviceEpochPlan on the data's own device, synchronously in next()
  // (no loader thread): for a data set kept in GPU memory.
  bool on_device = false;
};

// The loader threads by default (--loader-threads 0): one for data in memory (a crop and a flip
// take microseconds), all `compute_threads` for image files (decoding takes milliseconds).
int64_t default_loader_threads(const Dataset& data, int64_t compute_threads);

// Batches in an epoch of `samples`: a short last batch counts unless `drop_last`.
int64_t batches_per_epoch(int64_t samples, int64_t batch_size, bool drop_last);

class BatchLoader {
 public:
  // `indices`: the samples of this epoch (this rank's shard), in visiting order.
  BatchLoader(const Dataset& data, std::vector<int64_t> indices, LoaderSpec spec);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  int64_t num_batches() const { return num_batches_; }
  int64_t first_batch() const { return spec_.first_batch; }  // where it starts (resuming inside an epoch)
  int64_t threads() const { return static_cast<int64_t>(workers_.size()); }
  // Seconds next() has spent waiting for a batch not yet built (the model waiting for data).
  double wait_seconds() const { return wait_seconds_; }
  // The next batch, or nullopt at the end of the epoch. Rethrows a worker error.
  std::optional<Batch> next();

 private:
  void work();
  void stop_workers();
  Batch build(int64_t b) const;

  const Dataset& data_;
  std::vector<int64_t> indices_;
  LoaderSpec spec_;
  std::vector<int64_t> starts_;  // batch b is indices_[starts_[b], starts_[b + 1])
  int64_t num_batches_ = 0;
  int64_t consumed_ = 0;
  double wait_seconds_ = 0;
  std::optional<DeviceEpochPlan> plan_;  // on_device

  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_to_build_ = 0;       // the next batch a thread takes
  std::map<int64_t, Batch> ready_;  // built batches by number, used in order
  std::exception_ptr error_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace rt
