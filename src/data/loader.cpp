#include "data/loader.h"

namespace rt {

int64_t batches_per_epoch(int64_t samples, int64_t batch_size, bool drop_last) {
  return drop_last ? samples / batch_size : (samples + batch_size - 1) / batch_size;
}

BatchLoader::BatchLoader(const Dataset& data, std::vector<int64_t> indices, LoaderSpec spec)
    : data_(data), indices_(std::move(indices)), spec_(spec) {
  const auto n = static_cast<int64_t>(indices_.size());
  num_batches_ = batches_per_epoch(n, spec_.batch_size, spec_.drop_last);
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
    const auto n = static_cast<int64_t>(indices_.size());
    const auto labels = data_.labels.data_ptr<int64_t>();
    for (int64_t b = consumed_; b < num_batches_; ++b) {
      const int64_t begin = b * spec_.batch_size;
      const int64_t count = std::min(spec_.batch_size, n - begin);
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
    const auto n = static_cast<int64_t>(indices_.size());
    const int64_t begin = consumed_ * spec_.batch_size;
    const int64_t count = std::min(spec_.batch_size, n - begin);
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
