// Reader for an image folder: <dir>/train/<class>/*.jpg|*.jpeg|*.png and <dir>/val/... (or
// test/), classes sorted by name (as torchvision's ImageFolder does), listed by image_index.h.
// Streamed, only the file index is kept; in memory, every image (all must then be 32x32) is
// decoded once, as image_decode.h decodes it (greyscale and CMYK converted to RGB).
#include <algorithm>
#include <memory>

#include "core/errors.h"
#include "core/files.h"
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

// Decodes every file of a streamed split into [N, 3, 32, 32] pixels.
void decode_into_memory(Dataset& d) {
  const auto& files = *d.files;
  const auto n = static_cast<int64_t>(files.size());
  auto hwc = torch::empty({n, kSide, kSide, 3}, torch::kUInt8);
  uint8_t* out = hwc.data_ptr<uint8_t>();
  // Decoding is independent per file: spread it over the intra-op threads. A UserError thrown
  // in a chunk is rethrown here by parallel_for.
  at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const std::string& path = files[static_cast<size_t>(i)];
      const auto bytes = read_file_bytes(path);
      const ImageInfo info = probe_image(path, bytes);
      RT_CHECK_USER(info.width == kSide && info.height == kSide,
                    "{}: image is {}x{}, expected 32x32 like the others; resize it or remove it, or pass "
                    "--image-size S to stream images of any size",
                    path, info.width, info.height);
      const auto rgb = decode_rgb(path, bytes, info);
      std::memcpy(out + i * kPixels, rgb.data_ptr<uint8_t>(), kPixels);
    }
  });
  d.images = hwc.permute({0, 3, 1, 2}).contiguous();  // -> [N, 3, 32, 32]
  d.files = nullptr;
}

}  // namespace

DataSplits read_image_folder(const std::string& dir, bool allow_in_memory) {
  RT_CHECK_USER(dir_exists(dir + "/train"),
                "{}: image-folder split 'train' is missing; expected {}/train/<class>/*.jpg", dir, dir);
  const std::string eval_split = dir_exists(dir + "/val") ? "val" : "test";
  RT_CHECK_USER(dir_exists(dir + "/" + eval_split),
                "{}: image-folder split 'test' is missing (neither val/ nor test/); expected {}/val/<class>/*.jpg "
                "or {}/test/<class>/*.jpg",
                dir, dir, dir);
  DataSplits s;
  s.train = from_index(index_split(dir, "train"));
  s.test = from_index(index_split(dir, eval_split));
  RT_CHECK_USER(s.train.class_names == s.test.class_names,
                "{}: train and {} hold different class folders ({} vs {} classes); both "
                "splits need the same <class> sub-folders",
                dir, eval_split, s.train.class_names.size(), s.test.class_names.size());
  bool streamed = true;
  if (allow_in_memory) {
    const std::string& first = s.train.files->front();
    const ImageInfo info = probe_image(first, read_file_bytes(first));
    streamed = info.width != kSide || info.height != kSide;
  }
  if (!streamed) {
    decode_into_memory(s.train);
    decode_into_memory(s.test);
  }
  s.format = streamed ? "image-files" : "image-folder";
  s.root = dir;
  return s;
}

}  // namespace rt
