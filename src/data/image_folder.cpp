// Reader for an image folder: <dir>/train/<class>/*.jpg|*.jpeg|*.png and <dir>/val/... (or
// test/), classes sorted by name (as torchvision's ImageFolder does), listed by image_index.h.
// Streamed, only the file index is kept; in memory, every image (all must then be 32x32) is
// decoded once, as image_decode.h decodes it (greyscale and CMYK converted to RGB). With
// skip_bad, an image that cannot be read or decoded into memory is left out of its split and
// named.
#include <algorithm>
#include <memory>

#include "core/errors.h"
#include "core/files.h"
#include "data/data_file.h"
#include "data/dataset.h"
#include "data/image_decode.h"
#include "data/image_index.h"

namespace rt {

namespace {

constexpr int kSide = 32;
constexpr int64_t kPixels = 3 * kSide * kSide;

Dataset from_index(ImageIndex index) {
  Dataset d;
  d.class_names = std::move(index.class_names);
  d.labels = torch::tensor(index.labels, torch::kInt64);
  d.files = std::make_shared<const std::vector<std::string>>(std::move(index.paths));
  return d;
}

// A split with no image left (all of them left out as unreadable) cannot be trained on.
void check_not_empty(const std::string& dir, const std::string& split, int64_t images) {
  RT_CHECK_USER(images > 0,
                "{}/{}: no readable image left (every one was left out with --skip-bad-images); replace the "
                "unreadable files",
                dir, split);
}

// Decodes every file of a streamed split into [N, 3, 32, 32] pixels; with skip_bad, those that
// cannot be read, decoded or are not 32x32 are left out (and named in `skipped`).
void decode_into_memory(Dataset& d, const std::string& dir, const std::string& split, bool skip_bad,
                        std::vector<std::string>& skipped) {
  const auto& files = *d.files;
  const auto n = static_cast<int64_t>(files.size());
  auto hwc = torch::empty({n, kSide, kSide, 3}, torch::kUInt8);
  uint8_t* out = hwc.data_ptr<uint8_t>();
  std::vector<std::string> bad(static_cast<size_t>(n));  // why file i was left out, "" when kept
  // Decoding is independent per file: spread it over the intra-op threads. A UserError thrown
  // in a chunk is rethrown here by parallel_for.
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const std::string& path = files[static_cast<size_t>(i)];
      try {
        const auto bytes = read_data_file(path, kMaxImageFileBytes, "an image file");
        const ImageInfo info = probe_image(path, bytes);
        RT_CHECK_USER(info.width == kSide && info.height == kSide,
                      "{}: image is {}x{}, expected 32x32 like the others; resize it or remove it, or pass "
                      "--image-size S to stream images of any size",
                      path, info.width, info.height);
        const auto rgb = decode_rgb(path, bytes, info);
        std::memcpy(out + i * kPixels, rgb.data_ptr<uint8_t>(), kPixels);
      } catch (const UserError& e) {
        if (!skip_bad) throw;
        bad[static_cast<size_t>(i)] = e.what();
      }
    }
  });
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < n; ++i) {
    if (bad[static_cast<size_t>(i)].empty()) {
      kept.push_back(i);
    } else {
      skipped.push_back(std::move(bad[static_cast<size_t>(i)]));
    }
  }
  if (static_cast<int64_t>(kept.size()) < n) {
    check_not_empty(dir, split, static_cast<int64_t>(kept.size()));
    const auto index = torch::tensor(kept, torch::kInt64);
    hwc = hwc.index_select(0, index);
    d.labels = d.labels.index_select(0, index);
  }
  d.images = hwc.permute({0, 3, 1, 2}).contiguous();  // -> [N, 3, 32, 32]
  d.files = nullptr;
}

// The size of the split's first image that can be read (in index order). With skip_bad, those
// before it that cannot are passed over here: they are left out and named where they are read
// (decoded into memory, or in each epoch that streams them).
ImageInfo first_image(const ImageIndex& index, const std::string& dir, bool skip_bad) {
  for (const std::string& path : index.paths) {
    try {
      return probe_image(path, read_data_file(path, kMaxImageFileBytes, "an image file"));
    } catch (const UserError&) {
      if (!skip_bad) throw;
    }
  }
  check_not_empty(dir, "train", 0);
  return {};
}

}  // namespace

DataSplits read_image_folder(const std::string& dir, bool allow_in_memory, bool skip_bad) {
  RT_CHECK_USER(dir_exists(dir + "/train"),
                "{}: image-folder split 'train' is missing; expected {}/train/<class>/*.jpg", dir, dir);
  const std::string eval_split = dir_exists(dir + "/val") ? "val" : "test";
  RT_CHECK_USER(dir_exists(dir + "/" + eval_split),
                "{}: image-folder split 'test' is missing (neither val/ nor test/); expected {}/val/<class>/*.jpg "
                "or {}/test/<class>/*.jpg",
                dir, dir, dir);
  DataSplits s;
  ImageIndex train = index_split(dir, "train", skip_bad);
  ImageIndex test = index_split(dir, eval_split, skip_bad);
  for (ImageIndex* index : {&train, &test}) {
    for (auto& why : index->skipped) s.skipped.push_back(std::move(why));
  }
  RT_CHECK_USER(train.class_names == test.class_names,
                "{}: train and {} hold different class folders ({} vs {} classes); both "
                "splits need the same <class> sub-folders",
                dir, eval_split, train.class_names.size(), test.class_names.size());
  bool streamed = true;
  if (allow_in_memory) {
    const ImageInfo info = first_image(train, dir, skip_bad);
    streamed = info.width != kSide || info.height != kSide;
  }
  s.train = from_index(std::move(train));
  s.test = from_index(std::move(test));
  if (!streamed) {
    decode_into_memory(s.train, dir, "train", skip_bad, s.skipped);
    decode_into_memory(s.test, dir, eval_split, skip_bad, s.skipped);
  }
  s.format = streamed ? "image-files" : "image-folder";
  s.root = dir;
  return s;
}

}  // namespace rt
