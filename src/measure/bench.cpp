#include "measure/bench.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>

#include "core/seed.h"
#include "core/timer.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "device/device_timer.h"
#include "model/cuda_graph.h"
#include "model/registry.h"
#include "parallel/buckets.h"
#include "parallel/grad_compressor.h"
#include "train/optimizer.h"
#include "train/step_flags.h"
#include "train/train_step.h"

namespace rt {

double Rate::median() const {
  if (reps.empty()) return 0;
  auto v = reps;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
double Rate::min() const { return reps.empty() ? 0 : *std::min_element(reps.begin(), reps.end()); }
double Rate::max() const { return reps.empty() ? 0 : *std::max_element(reps.begin(), reps.end()); }
nlohmann::json Rate::to_json() const { return {{"median", median()}, {"min", min()}, {"max", max()}, {"reps", reps}}; }

namespace {

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

// Times `reps` repetitions of `steps` calls of `step` after `warmup` calls: images/s each.
template <typename F>
Rate time_reps(const StepBenchSpec& s, F step) {
  for (int64_t i = 0; i < s.warmup; ++i) step();
  synchronize(s.device);
  Rate r;
  for (int64_t rep = 0; rep < s.reps; ++rep) {
    Stopwatch clock;
    for (int64_t i = 0; i < s.steps; ++i) step();
    synchronize(s.device);
    r.reps.push_back(static_cast<double>(s.steps * s.batch_size) / clock.seconds());
  }
  return r;
}

struct Synthetic {
  std::shared_ptr<Classifier> model;
  torch::Tensor images, labels;
};

Synthetic make_synthetic(const StepBenchSpec& s) {
  if (s.device.is_cuda()) at::globalContext().setBenchmarkCuDNN(s.cudnn_benchmark);  // as training does
  torch::manual_seed(derive_seed(s.seed, SeedPurpose::kInit));
  Synthetic w;
  w.model = make_model(s.model, s.num_classes, false);
  w.model->to(s.device);
  if (s.channels_last) to_channels_last(*w.model);
  w.images = to_model_format(torch::randn({s.batch_size, 3, 32, 32}).to(s.device), s.channels_last);
  w.labels = torch::randint(s.num_classes, {s.batch_size}, torch::kInt64).to(s.device);
  return w;
}

}  // namespace

Rate bench_train_step(const StepBenchSpec& s) {
  auto w = make_synthetic(s);
  w.model->train();
  // The training step itself (train/train_step.h), in one process: no buckets, flags kept local.
  FusedSgd opt(trainable_parameters(*w.model), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
  const auto comm = make_single_process_communicator();
  GradientSync grad_sync(trainable_parameters(*w.model), *comm, /*bucket_cap_bytes=*/25 << 20);
  StepFlags flags(*comm, s.device);
  std::unique_ptr<CudaGraphStep> graph;
  if (s.cuda_graph) graph = std::make_unique<CudaGraphStep>(s.device, trainable_parameters(*w.model), s.batch_size);
  TrainStep train_step(*w.model, opt, grad_sync, flags, graph.get(), {s.device, s.precision, s.channels_last, 0.0});
  int64_t steps = 0;
  const auto step = [&] {
    train_step.begin(0.1);
    train_step.run(w.images, w.labels, MicroBatch{}, ++steps, nullptr);
    flags.take();  // nothing acts on them here
  };
  // With a graph, the eager steps and the capture happen before the timed warm-up.
  if (graph) {
    for (int i = 0; i <= CudaGraphStep::kEagerSteps; ++i) step();
  }
  return time_reps(s, step);
}

GradientTiming bench_gradient_timing(const StepBenchSpec& s) {
  auto w = make_synthetic(s);
  w.model->train();
  FusedSgd opt(trainable_parameters(*w.model), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-4));
  const auto params = trainable_parameters(*w.model);
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> ready(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    params[i].register_hook([&ready, i](const torch::Tensor& g) {
      ready[i] = Clock::now();
      return g;
    });
  }
  std::vector<std::vector<double>> shares(params.size());
  std::vector<double> backward_shares;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  for (int64_t i = 0; i < s.warmup + s.reps * s.steps; ++i) {
    opt.zero_grad();
    const auto t0 = Clock::now();
    torch::Tensor loss;
    {
      AutocastGuard autocast(s.device, s.precision);
      loss = torch::nn::functional::cross_entropy(w.model->forward(w.images).to(torch::kFloat32), w.labels);
    }
    synchronize(s.device);
    const auto t1 = Clock::now();
    loss.backward();
    synchronize(s.device);  // on a GPU the hooks time the host's queueing, a lower bound
    const auto t2 = Clock::now();
    opt.step();
    synchronize(s.device);
    const auto t3 = Clock::now();
    if (i < s.warmup) continue;
    for (size_t k = 0; k < params.size(); ++k) shares[k].push_back(seconds(t1, ready[k]) / seconds(t1, t2));
    backward_shares.push_back(seconds(t1, t2) / seconds(t0, t3));
  }
  GradientTiming t;
  for (auto& v : shares) t.ready.push_back(std::clamp(Rate{v}.median(), 0.0, 1.0));
  t.backward_share = Rate{backward_shares}.median();
  return t;
}

Rate bench_forward(const StepBenchSpec& s) {
  auto w = make_synthetic(s);
  w.model->eval();
  torch::InferenceMode inference;
  return time_reps(s, [&] {
    AutocastGuard autocast(s.device, s.precision);
    w.model->forward(w.images);
  });
}

Rate bench_compression(const StepBenchSpec& s, const GradCompression& compression, int64_t bucket_cap_bytes) {
  torch::NoGradGuard no_grad;
  auto model = make_model(s.model, 10, false);
  std::vector<BucketParam> sizes;
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& p : trainable_parameters(*model)) {
    sizes.push_back({p.numel() * 4, 0});
    shapes.push_back(p.sizes().vec());
  }
  struct Bucket {
    torch::Tensor flat, source;
    std::vector<torch::Tensor> views;
  };
  std::vector<Bucket> buckets;
  torch::manual_seed(static_cast<int64_t>(s.seed));
  for (const auto& members : assign_buckets(sizes, bucket_cap_bytes)) {
    Bucket b;
    int64_t numel = 0;
    for (const size_t m : members) numel += sizes[m].bytes / 4;
    b.flat = torch::empty({numel}, torch::TensorOptions(torch::kFloat32).device(s.device));
    b.source = torch::randn({numel}).to(s.device);
    int64_t offset = 0;
    for (const size_t m : members) {
      const int64_t n = sizes[m].bytes / 4;
      b.views.push_back(b.flat.narrow(0, offset, n).view(shapes[m]));
      offset += n;
    }
    buckets.push_back(std::move(b));
  }
  GradCompression spec = compression;
  spec.warmup_steps = 0;
  const auto comm = make_single_process_communicator();
  auto compressor = make_grad_compressor(spec, *comm);
  auto step = [&] {  // seconds of compressing and decompressing every bucket once
    double seconds = 0;
    for (size_t i = 0; i < buckets.size(); ++i) {
      buckets[i].flat.copy_(buckets[i].source);
      synchronize(s.device);
      DeviceInterval interval(s.device);
      compressor->start(i, buckets[i].flat, buckets[i].views).work->wait();
      interval.stop();
      seconds += interval.seconds();
    }
    compressor->step_done();
    return seconds;
  };
  for (int64_t i = 0; i < s.warmup; ++i) step();
  Rate r;
  for (int64_t rep = 0; rep < s.reps; ++rep) {
    double seconds = 0;
    for (int64_t i = 0; i < s.steps; ++i) seconds += step();
    r.reps.push_back(static_cast<double>(s.steps) / seconds);
  }
  return r;
}

Dataset synthetic_dataset(int64_t n, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  Dataset d;
  d.images = torch::randint(256, {n, 3, 32, 32}, torch::kUInt8);
  d.labels = torch::randint(10, {n}, torch::kInt64);
  d.class_names = cifar10_class_names();
  return d;
}

Rate bench_data_pipeline(const Dataset& data, int64_t batch_size, int64_t reps, int64_t loader_threads,
                         double* first_pass) {
  const ShardSpec shard{data.size(), 1, 0, /*shuffle=*/true, /*drop_last=*/false, 0};
  Rate r;
  for (int64_t rep = -1; rep < reps; ++rep) {  // rep -1: warm-up
    LoaderSpec spec;
    spec.batch_size = batch_size;
    spec.augment = true;
    spec.epoch = rep + 1;
    spec.threads = loader_threads;
    Stopwatch clock;
    int64_t images = 0;
    BatchLoader loader(data, epoch_shard(shard, spec.epoch), spec);
    while (auto b = loader.next()) images += b->labels.size(0);
    const double rate = static_cast<double>(images) / clock.seconds();
    if (rep >= 0) r.reps.push_back(rate);
    if (rep < 0 && first_pass != nullptr) *first_pass = rate;
  }
  return r;
}

namespace {

// A gradient bucket of `flat`'s size as conv weights of 256 x 2304, one smaller matrix of 2304
// columns, then a vector: the views a compressor sees.
std::vector<torch::Tensor> bucket_views(torch::Tensor& flat) {
  constexpr int64_t kCols = 2304, kTile = 256 * kCols;
  std::vector<torch::Tensor> views;
  int64_t offset = 0, left = flat.numel();
  for (; left >= kTile; left -= kTile, offset += kTile)
    views.push_back(flat.narrow(0, offset, kTile).view({256, kCols}));
  if (left >= 2 * kCols) {
    const int64_t rows = left / kCols;
    views.push_back(flat.narrow(0, offset, rows * kCols).view({rows, kCols}));
    offset += rows * kCols;
    left -= rows * kCols;
  }
  if (left > 0) views.push_back(flat.narrow(0, offset, left));
  return views;
}

}  // namespace

std::vector<AllreduceRow> bench_allreduce(Communicator& comm, const torch::Device& device, int64_t min_bytes,
                                          int64_t max_bytes, int64_t iters, int64_t warmup,
                                          const std::optional<GradCompression>& compression) {
  const double n = comm.world_size();
  std::vector<AllreduceRow> rows;
  for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    const auto options = torch::TensorOptions(torch::kFloat32).device(device);
    const int64_t numel = std::max<int64_t>(1, bytes / 4);
    auto t = torch::ones({numel}, options);
    std::unique_ptr<GradCompressor> compressor;
    std::vector<torch::Tensor> views;
    torch::Tensor source;  // each rank's own gradient, restored before every iteration
    if (compression) {
      GradCompression spec = *compression;
      spec.warmup_steps = 0;
      compressor = make_grad_compressor(spec, comm);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(1000 + comm.rank());
      source = torch::randn({numel}, gen).to(device);
      views = bucket_views(t);
    }
    int64_t payload = numel * 4;
    auto once = [&](const std::string& what) {
      if (!compressor) {
        comm.allreduce_sum(t, what);
        return;
      }
      auto r = compressor->start(0, t, views);
      r.work->wait();
      compressor->step_done();
      payload = r.payload_bytes;
    };
    for (int64_t i = 0; i < warmup; ++i) {
      if (compressor) t.copy_(source);
      once("allreduce benchmark warm-up");
    }
    std::vector<double> times;
    for (int64_t i = 0; i < iters; ++i) {
      if (compressor) t.copy_(source);
      comm.barrier("barrier before an allreduce benchmark iteration");
      synchronize(device);
      // On a GPU timed by events around the collective on the stream (device/device_timer.h).
      DeviceInterval interval(device);
      once(fmt::format("allreduce benchmark of {} bytes", bytes));
      interval.stop();
      // The slowest rank's time is the collective's time: exchange every rank's time.
      auto all = torch::zeros({comm.world_size()}, torch::TensorOptions(torch::kFloat64));
      all[comm.rank()] = interval.seconds();
      all = all.to(device);
      comm.allreduce_sum(all, "allreduce benchmark timing exchange");
      times.push_back(all.max().item<double>());
    }
    std::sort(times.begin(), times.end());
    AllreduceRow row;
    row.bytes = numel * 4;
    row.payload_bytes = payload;
    row.seconds = times[times.size() / 2];
    row.algbw_gbs = static_cast<double>(row.bytes) / row.seconds / 1e9;
    row.busbw_gbs = static_cast<double>(row.payload_bytes) / row.seconds / 1e9 * 2 * (n - 1) / n;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace rt
