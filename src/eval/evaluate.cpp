#include "eval/evaluate.h"

#include <numeric>

#include "data/loader.h"

namespace rt {

double EvalResult::accuracy() const {
  int64_t correct = 0;
  for (size_t i = 0; i < confusion.size(); ++i) correct += confusion[i][i];
  return samples ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0;
}

void accumulate_confusion(ConfusionMatrix& counts, const torch::Tensor& logits, const torch::Tensor& labels) {
  const auto c = static_cast<int64_t>(counts.size());
  // Bin (true, predicted) pairs on the device, then copy C*C counts back.
  const auto pred = logits.argmax(1);
  const auto flat = (labels.to(pred.device()) * c + pred).bincount({}, c * c).to(torch::kCPU);
  const auto* f = flat.data_ptr<int64_t>();
  for (int64_t t = 0; t < c; ++t) {
    for (int64_t p = 0; p < c; ++p) counts[t][p] += f[t * c + p];
  }
}

void reduce_across_ranks(EvalResult& r, Communicator& comm, const torch::Device& device) {
  if (comm.world_size() == 1) return;
  const auto c = static_cast<int64_t>(r.confusion.size());
  // Counts as int64 (exact); the loss sum as float64 in a second tensor.
  auto counts = torch::empty({c * c + 1}, torch::kInt64);
  auto* p = counts.data_ptr<int64_t>();
  for (int64_t t = 0; t < c; ++t)
    for (int64_t q = 0; q < c; ++q) p[t * c + q] = r.confusion[t][q];
  p[c * c] = r.samples;
  auto loss = torch::full({1}, r.loss_sum, torch::kFloat64);
  counts = counts.to(device);
  loss = loss.to(device);
  comm.allreduce_sum(counts, "allreduce of evaluation counts");
  comm.allreduce_sum(loss, "allreduce of evaluation loss");
  counts = counts.cpu();
  p = counts.data_ptr<int64_t>();
  for (int64_t t = 0; t < c; ++t)
    for (int64_t q = 0; q < c; ++q) r.confusion[t][q] = p[t * c + q];
  r.samples = p[c * c];
  r.loss_sum = loss.cpu().item<double>();
}

std::vector<int64_t> eval_shard(int64_t size, int rank, int world_size) {
  std::vector<int64_t> idx;
  for (int64_t i = rank; i < size; i += world_size) idx.push_back(i);
  return idx;
}

EvalResult evaluate(Classifier& model, const Dataset& data, const torch::Device& device, const EvalSpec& spec,
                    const std::vector<int64_t>& indices) {
  std::vector<int64_t> order = indices;
  if (order.empty()) {
    order.resize(static_cast<size_t>(data.size()));
    std::iota(order.begin(), order.end(), 0);
  }
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  EvalResult r;
  r.confusion.assign(static_cast<size_t>(data.num_classes()),
                     std::vector<int64_t>(static_cast<size_t>(data.num_classes()), 0));
  LoaderSpec load;
  load.batch_size = spec.batch_size;
  load.on_device = data.on_device();
  load.threads = spec.loader_threads;
  load.skip_bad = spec.skip_bad;
  load.pin_memory = device.is_cuda();
  BatchLoader loader(data, std::move(order), load);
  const auto forward = [&](const torch::Tensor& x) {
    AutocastGuard autocast(device, spec.precision);
    return model.forward(to_model_format(x, spec.channels_last));
  };
  std::vector<torch::Tensor> kept, kept_labels;
  while (auto batch = loader.next()) {
    const auto images = batch->images.to(device, /*non_blocking=*/true);
    const auto labels = batch->labels.to(device, /*non_blocking=*/true);
    const torch::Tensor logits = tta_logits(forward, images, spec.tta);  // float32
    r.loss_sum += torch::nn::functional::cross_entropy(
                      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
    r.samples += labels.size(0);
    accumulate_confusion(r.confusion, logits, labels);
    if (spec.keep_logits) {
      kept.push_back(logits.cpu());
      kept_labels.push_back(labels.cpu());
    }
  }
  if (spec.keep_logits) {
    r.logits = torch::cat(kept);
    r.labels = torch::cat(kept_labels);
  }
  model.train(was_training);
  return r;
}

}  // namespace rt
