#include "data/dataset.h"

#include <cmath>
#include <mutex>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/seed.h"
#include "data/data_file.h"
#include "data/file_batch.h"
#include "data/image_decode.h"
#include "data/image_transforms.h"

namespace rt {

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

namespace {

constexpr int64_t kStreamedDefaultSize = 224;
constexpr int64_t kStatisticsImages = 2000;  // `--normalize computed` on streamed files: a sample

// Per-channel sums of pixels in [0, 1] and of their squares, for a mean and a standard
// deviation over every pixel, accumulated a chunk of images at a time.
struct ChannelMoments {
  std::array<double, 3> sum{}, squares{};
  double pixels = 0;                      // per channel
  void add(const torch::Tensor& chunk) {  // [B, 3, H, W], values in [0, 1]
    const auto x = chunk.to(torch::kFloat64);
    const auto s = x.sum({0, 2, 3}), q = (x * x).sum({0, 2, 3});
    for (int c = 0; c < 3; ++c) {
      sum[c] += s[c].item<double>();
      squares[c] += q[c].item<double>();
    }
    pixels += static_cast<double>(chunk.numel() / 3);
  }
  Normalization result() const {
    Normalization n;
    for (int c = 0; c < 3; ++c) {
      const double mean = sum[c] / pixels;
      n.mean[c] = static_cast<float>(mean);
      n.std[c] = static_cast<float>(std::sqrt(std::max(0.0, squares[c] / pixels - mean * mean)));
    }
    return n;
  }
};

// Over every pixel of `images` ([N, 3, H, W] uint8).
Normalization statistics_of(const torch::Tensor& images) {
  ChannelMoments m;
  for (int64_t i = 0; i < images.size(0); i += 1000) {
    m.add(images.narrow(0, i, std::min<int64_t>(1000, images.size(0) - i)).to(torch::kFloat64) / 255.0);
  }
  return m.result();
}

// Over a seeded sample of a streamed split's files, each as evaluation sees it, one image per
// thread at a time (a few MB, whatever the sample's size). With skip_bad, a file that cannot be
// read is left out of the statistics with a warning; it stays in the split (whose files do not
// depend on how the statistics were found, so that a resumed run has the same), to be left out
// and counted in each epoch.
Normalization statistics_of_files(const Dataset& d, uint64_t seed, bool skip_bad) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(derive_seed(seed, SeedPurpose::kSubset));
  const auto perm = torch::randperm(d.size(), gen, torch::kInt64);
  const int64_t* order = perm.data_ptr<int64_t>();
  const int64_t n = std::min(d.size(), kStatisticsImages);
  const int64_t s = d.image_size;
  const Normalization identity{{0, 0, 0}, {1, 1, 1}};  // writes pixel / 255
  const SampleTransform t = sample_transform(d, /*train=*/false);
  ChannelMoments total;
  std::vector<std::pair<int64_t, std::string>> bad;  // {sample, why}
  std::mutex mu;
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    ChannelMoments part;
    auto image = torch::empty({1, 3, s, s}, torch::kFloat32);
    std::vector<std::pair<int64_t, std::string>> part_bad;
    for (int64_t i = begin; i < end; ++i) {
      const std::string& path = (*d.files)[static_cast<size_t>(order[i])];
      SampleRandom unused(seed, 0, i);
      try {
        transform_image_file(path, read_data_file(path, kMaxImageFileBytes, "an image file"), t, unused, identity,
                             image.data_ptr<float>());
      } catch (const UserError& e) {
        if (!skip_bad) throw;
        part_bad.emplace_back(order[i], e.what());
        continue;
      }
      part.add(image);
    }
    std::lock_guard<std::mutex> lock(mu);
    bad.insert(bad.end(), part_bad.begin(), part_bad.end());
    for (int c = 0; c < 3; ++c) {
      total.sum[c] += part.sum[c];
      total.squares[c] += part.squares[c];
    }
    total.pixels += part.pixels;
  });
  std::sort(bad.begin(), bad.end());
  if (log_rank() == 0) {
    for (const auto& [i, why] : bad) log_warn("left out of the statistics (--skip-bad-images): {}", why);
  }
  RT_CHECK_USER(total.pixels > 0,
                "--normalize computed: none of the {} training images sampled could be read (left out with "
                "--skip-bad-images); replace the unreadable files or pass --mean and --std",
                n);
  return total.result();
}

// The statistics asked for: --mean/--std, else `normalize` (auto: CIFAR-10's for CIFAR-10,
// ImageNet's for streamed images, measured on the training split otherwise).
Normalization resolve_normalization(const DataSplits& s, const DataRequest& r) {
  std::string mode = r.normalize;
  if (mode == "auto") {
    mode = s.format == "cifar10-binary" || s.format == "cifar10-python" || s.format == "image-folder" ? "cifar10"
           : s.train.streamed()                                                                       ? "imagenet"
                                                                                                      : "computed";
  }
  Normalization n;  // CIFAR-10's
  if (mode == "imagenet") {
    n = imagenet_normalization();
  } else if (mode == "computed") {
    if (r.mean.empty() || r.std.empty()) {  // both given (as config.json records them): nothing to measure
      n = s.train.streamed() ? statistics_of_files(s.train, r.seed, r.skip_bad_images) : statistics_of(s.train.images);
      log_info("normalisation measured on the training split: mean {:.4f},{:.4f},{:.4f} std {:.4f},{:.4f},{:.4f}",
               n.mean[0], n.mean[1], n.mean[2], n.std[0], n.std[1], n.std[2]);
    }
  } else {
    RT_CHECK_USER(mode == "cifar10", "--normalize {}: expected auto, cifar10, imagenet or computed", r.normalize);
  }
  if (!r.mean.empty()) n.mean = parse_channel_triple("--mean", r.mean, /*positive=*/false);
  if (!r.std.empty()) n.std = parse_channel_triple("--std", r.std, /*positive=*/true);
  return n;
}

DataSplits read_splits(const std::string& dir, const DataRequest& r) {
  RT_CHECK_USER(!dir.empty(), "no data folder given: pass --data DIR (see README, 'Data')");
  RT_CHECK_USER(dir_exists(dir), "--data {}: no such folder", dir);
  for (const std::string& candidate : {dir, dir + "/cifar-10-batches-bin"}) {
    if (file_exists(candidate + "/data_batch_1.bin") || file_exists(candidate + "/test_batch.bin")) {
      return read_cifar10_binary(candidate);
    }
  }
  for (const std::string& candidate : {dir, dir + "/cifar-100-binary"}) {
    if (file_exists(candidate + "/train.bin") || file_exists(candidate + "/test.bin")) {
      return read_cifar100_binary(candidate);
    }
  }
  for (const std::string& candidate : {dir, dir + "/cifar-10-batches-py"}) {
    if (file_exists(candidate + "/data_batch_1") || file_exists(candidate + "/test_batch")) {
      return read_cifar10_python(candidate);
    }
  }
  for (const std::string& candidate : {dir, dir + "/cifar-100-python"}) {
    if (file_exists(candidate + "/train") || file_exists(candidate + "/test")) return read_cifar100_python(candidate);
  }
  if (dir_exists(dir + "/train"))
    return read_image_folder(dir, /*allow_in_memory=*/r.image_size == 0 || r.image_size == 32, r.skip_bad_images);
  throw UserError(
      fmt::format("--data {}: found neither CIFAR batches (binary: data_batch_1.bin ... test_batch.bin or train.bin + "
                  "test.bin, also looked in cifar-10-batches-bin/ and cifar-100-binary/; python: data_batch_1 ... "
                  "test_batch or train + test, also looked in cifar-10-batches-py/ and cifar-100-python/) nor an "
                  "image folder (train/<class>/, val/<class>/ or test/<class>/)",
                  dir));
}

}  // namespace

DataRequest data_request(const Config& cfg) {
  DataRequest r;
  r.image_size = cfg.image_size;
  r.normalize = cfg.normalize;
  r.mean = cfg.mean;
  r.std = cfg.std;
  r.seed = cfg.seed;
  r.dct_scaling = cfg.dct_scaling;
  r.skip_bad_images = cfg.skip_bad_images;
  r.cache_dir = cfg.cache_dir;
  r.max_side = cfg.max_side;
  r.cache_format = cfg.cache_format;
  return r;
}

DataSplits load_splits(const std::string& dir, const DataRequest& r) {
  DataSplits s = read_splits(dir, r);
  const int64_t size = s.train.streamed() ? (r.image_size > 0 ? r.image_size : kStreamedDefaultSize) : 32;
  RT_CHECK_USER(s.train.streamed() || r.image_size == 0 || r.image_size == 32,
                "--image-size {}: {} holds 32x32 images ({}), trained at their own size; drop --image-size or "
                "pass 32",
                r.image_size, dir, s.format);
  for (Dataset* d : {&s.train, &s.test}) {
    d->image_size = size;
    d->dct_scaling = r.dct_scaling;
  }
  if (!r.cache_dir.empty()) {
    if (s.train.streamed()) {
      ImageCacheOptions o;
      o.dir = r.cache_dir;
      o.max_side = static_cast<int>(r.max_side);
      o.raw = r.cache_format == "raw";
      o.dct_scaling = r.dct_scaling;
      const auto cache = std::make_shared<const ImageCache>(o);
      s.train.cache = s.test.cache = cache;
    } else if (log_rank() == 0) {
      log_warn("--cache-dir {}: {} ({}) is held in memory, not read from image files; the cache is not used",
               r.cache_dir, dir, s.format);
    }
  }
  const Normalization n = resolve_normalization(s, r);
  s.train.norm = s.test.norm = n;
  if (log_rank() == 0) {  // every rank leaves out the same files
    for (const auto& why : s.skipped) log_warn("left out an unreadable image (--skip-bad-images): {}", why);
  }
  return s;
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
  Dataset s = data;
  if (data.streamed()) {
    auto files = std::make_shared<std::vector<std::string>>();
    for (const int64_t i : chosen) files->push_back((*data.files)[static_cast<size_t>(i)]);
    s.files = std::move(files);
  } else {
    s.images = data.images.index_select(0, index);
  }
  s.labels = data.labels.index_select(0, index);
  return s;
}

}  // namespace rt
