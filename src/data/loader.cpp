#include "data/loader.h"

#include <c10/util/ParallelGuard.h>

#include "core/errors.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/file_batch.h"

namespace rt {

int64_t batches_per_epoch(int64_t samples, int64_t batch_size, bool drop_last) {
  return drop_last ? samples / batch_size : (samples + batch_size - 1) / batch_size;
}

int64_t default_loader_threads(const Dataset& data, int64_t compute_threads) {
  return data.streamed() ? std::max<int64_t>(1, compute_threads) : 1;
}

BatchLoader::BatchLoader(const Dataset& data, std::vector<int64_t> indices, LoaderSpec spec)
    : data_(data), indices_(std::move(indices)), spec_(spec) {
  const auto n = static_cast<int64_t>(indices_.size());
  starts_ = {0};
  if (spec_.batch_sizes.empty()) {
    num_batches_ = batches_per_epoch(n, spec_.batch_size, spec_.drop_last);
    for (int64_t b = 0; b < num_batches_; ++b) starts_.push_back(std::min(n, (b + 1) * spec_.batch_size));
  } else {
    for (const int64_t size : spec_.batch_sizes) starts_.push_back(starts_.back() + size);
    TORCH_INTERNAL_ASSERT(starts_.back() == n, "the loader's batch sizes add up to ", starts_.back(), ", not to its ",
                          n, " samples");
    num_batches_ = static_cast<int64_t>(spec_.batch_sizes.size());
  }
  consumed_ = std::min(spec_.first_batch, num_batches_);
  next_to_build_ = consumed_;
  if (spec_.on_device) {
    plan_.emplace(data_.images.device(), indices_, data_.norm, spec_.augment, spec_.seed, spec_.epoch);
  } else {
    spec_.threads = std::max<int64_t>(1, std::min(spec_.threads, num_batches_ - consumed_));
    spec_.prefetch = std::max(spec_.prefetch, spec_.threads);
    try {
      for (int64_t t = 0; t < spec_.threads; ++t) workers_.emplace_back([this] { work(); });
    } catch (const std::system_error& e) {  // e.g. a limit on processes: stop those started
      stop_workers();
      throw UserError(fmt::format("could not start {} loader threads ({}); pass fewer with --loader-threads",
                                  spec_.threads, e.what()));
    }
  }
}

BatchLoader::~BatchLoader() { stop_workers(); }

void BatchLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

Batch BatchLoader::build(int64_t b) const {
  const int64_t begin = starts_[b];
  const int64_t count = starts_[b + 1] - begin;
  Batch batch;
  batch.index = b;
  if (data_.streamed()) {
    FileBatch fb = make_file_batch(data_, indices_.data() + begin, count,
                                   {spec_.augment.enabled, spec_.seed, spec_.epoch, spec_.skip_bad, spec_.pin_memory});
    batch.images = std::move(fb.images);
    batch.labels = std::move(fb.labels);
    batch.skipped = std::move(fb.skipped);
    return batch;
  }
  batch.images =
      make_batch(data_.images, indices_.data() + begin, count, data_.norm, spec_.augment, spec_.seed, spec_.epoch);
  batch.labels = torch::empty({count}, torch::kInt64);
  const auto labels = data_.labels.data_ptr<int64_t>();
  auto* l = batch.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) l[i] = labels[indices_[begin + i]];
  return batch;
}

void BatchLoader::work() {
  // ATen operations here (the resize) run on this thread alone: the loader's parallelism is its
  // threads, and the model's intra-op threads stay the model's.
  c10::ParallelGuard serial(true);
  try {
    while (true) {
      int64_t b = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] {
          return stop_ || error_ || next_to_build_ >= num_batches_ || next_to_build_ < consumed_ + spec_.prefetch;
        });
        if (stop_ || error_ || next_to_build_ >= num_batches_) return;
        b = next_to_build_++;
      }
      Batch batch = build(b);
      std::lock_guard<std::mutex> lock(mu_);
      ready_.emplace(b, std::move(batch));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_) error_ = std::current_exception();
    cv_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  if (consumed_ >= num_batches_) return std::nullopt;
  if (plan_) {
    const int64_t begin = starts_[consumed_];
    const int64_t count = starts_[consumed_ + 1] - begin;
    Batch batch;
    batch.index = consumed_++;
    batch.images = plan_->batch(data_.images, begin, count);
    batch.labels = data_.labels.index_select(0, plan_->indices(begin, count));
    return batch;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (ready_.count(consumed_) == 0 && !error_) {
    const Stopwatch waiting;
    cv_.wait(lock, [&] { return ready_.count(consumed_) > 0 || error_; });
    wait_seconds_ += waiting.seconds();
  }
  if (ready_.count(consumed_) == 0) std::rethrow_exception(error_);
  Batch b = std::move(ready_.at(consumed_));
  ready_.erase(consumed_);
  for (const auto& why : b.skipped) log_warn("left out an unreadable image (--skip-bad-images): {}", why);
  ++consumed_;
  cv_.notify_all();
  return b;
}

}  // namespace rt
