#include "data/dataset.h"

#include "core/errors.h"
#include "core/files.h"
#include "core/seed.h"

namespace rt {

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

DataSplits load_cifar10(const std::string& dir) {
  RT_CHECK_USER(!dir.empty(), "no data folder given: pass --data DIR (see README, 'Data')");
  RT_CHECK_USER(dir_exists(dir), "--data {}: no such folder", dir);
  for (const std::string& candidate : {dir, dir + "/cifar-10-batches-bin"}) {
    if (file_exists(candidate + "/data_batch_1.bin") || file_exists(candidate + "/test_batch.bin")) {
      return read_cifar10_binary(candidate);
    }
  }
  if (dir_exists(dir + "/train") || dir_exists(dir + "/test")) return read_image_folder(dir);
  throw UserError(
      fmt::format("--data {}: found neither CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin, "
                  "also looked in cifar-10-batches-bin/) nor an image folder (train/<class>/, test/<class>/)",
                  dir));
}

Dataset balanced_subset(const Dataset& data, int64_t n, uint64_t seed) {
  if (n <= 0 || n >= data.size()) return data;
  const int64_t classes = data.num_classes();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(derive_seed(seed, SeedPurpose::kSubset));
  const auto perm = torch::randperm(data.size(), gen, torch::kInt64);
  const auto* p = perm.data_ptr<int64_t>();
  const auto* labels = data.labels.data_ptr<int64_t>();
  std::vector<int64_t> quota(static_cast<size_t>(classes));
  for (int64_t c = 0; c < classes; ++c) quota[c] = n / classes + (c < n % classes ? 1 : 0);
  std::vector<int64_t> chosen;
  for (int64_t i = 0; i < data.size() && static_cast<int64_t>(chosen.size()) < n; ++i) {
    if (quota[labels[p[i]]] > 0) {
      --quota[labels[p[i]]];
      chosen.push_back(p[i]);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  const auto index = torch::tensor(chosen, torch::kInt64);
  Dataset s;
  s.images = data.images.index_select(0, index);
  s.labels = data.labels.index_select(0, index);
  s.class_names = data.class_names;
  return s;
}

}  // namespace rt
