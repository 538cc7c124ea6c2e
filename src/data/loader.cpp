#include "data/loader.h"

namespace rt {

int64_t batches_per_epoch(int64_t samples, int64_t batch_size, bool drop_last) {
  return drop_last ? samples / batch_size : (samples + batch_size - 1) / batch_size;
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
  if (spec_.on_device) {
    plan_.emplace(data_.images.device(), indices_, spec_.norm, spec_.augment, spec_.seed, spec_.epoch);
  } else {
    worker_ = std::thread([this] { work(); });
  }
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void BatchLoader::work() {
  try {
    const auto labels = data_.labels.data_ptr<int64_t>();
    for (int64_t b = consumed_; b < num_batches_; ++b) {
      const int64_t begin = starts_[b];
      const int64_t count = starts_[b + 1] - begin;
      Batch batch;
      batch.index = b;
      batch.images =
          make_batch(data_.images, indices_.data() + begin, count, spec_.norm, spec_.augment, spec_.seed, spec_.epoch);
      batch.labels = torch::empty({count}, torch::kInt64);
      auto* l = batch.labels.data_ptr<int64_t>();
      for (int64_t i = 0; i < count; ++i) l[i] = labels[indices_[begin + i]];
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || static_cast<int64_t>(ready_.size()) < spec_.prefetch; });
      if (stop_) return;
      ready_.push_back(std::move(batch));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
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
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty() && error_) std::rethrow_exception(error_);
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  ++consumed_;
  cv_.notify_all();
  return b;
}

}  // namespace rt
