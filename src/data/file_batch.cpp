#include "data/file_batch.h"

#include "core/errors.h"
#include "data/data_file.h"
#include "data/image_cache.h"
#include "data/image_decode.h"
#include "data/image_transforms.h"

namespace rt {

namespace {
// A sample through the resized-image cache. A stored JPEG entry whose data does not decode
// (its header was checked when read) is made again from the source, with the same random
// choices (a copy of `random` as it was).
void transform_cached(const ImageCache& cache, const std::string& path, const SampleTransform& t,
                      const SampleRandom& random, const Normalization& norm, float* out) {
  CachedImage image = cache.load(path);
  SampleRandom r = random;
  try {
    if (image.raw()) {
      transform_image_pixels(image.path, image.rgb, t, r, norm, out);
    } else {
      transform_image_file(image.path, image.bytes, t, r, norm, out);
    }
    return;
  } catch (const UserError&) {
    if (!image.from_entry) throw;
  }
  image = cache.rebuild(path);
  r = random;
  if (image.raw()) {
    transform_image_pixels(image.path, image.rgb, t, r, norm, out);
  } else {
    transform_image_file(image.path, image.bytes, t, r, norm, out);
  }
}
}  // namespace

FileBatch make_file_batch(const Dataset& data, const int64_t* indices, int64_t count, const FileBatchSpec& spec) {
  TORCH_INTERNAL_ASSERT(data.streamed());
  const int64_t s = data.image_size;
  FileBatch batch;
  batch.images = torch::empty({count, 3, s, s}, torch::TensorOptions(torch::kFloat32).pinned_memory(spec.pin_memory));
  batch.labels = torch::empty({count}, torch::kInt64);
  const SampleTransform t = sample_transform(data, spec.augment);
  const auto* labels = data.labels.data_ptr<int64_t>();
  auto* out_labels = batch.labels.data_ptr<int64_t>();
  float* out = batch.images.data_ptr<float>();
  int64_t kept = 0;
  for (int64_t b = 0; b < count; ++b) {
    const int64_t idx = indices[b];
    const std::string& path = (*data.files)[static_cast<size_t>(idx)];
    try {
      SampleRandom random(spec.seed, spec.epoch, idx);
      float* sample = out + kept * 3 * s * s;
      if (data.cache) {
        transform_cached(*data.cache, path, t, random, data.norm, sample);
      } else {
        transform_image_file(path, read_data_file(path, kMaxImageFileBytes, "an image file"), t, random, data.norm,
                             sample);
      }
    } catch (const UserError& e) {
      if (!spec.skip_bad) throw;
      batch.skipped.push_back(e.what());
      continue;
    }
    out_labels[kept++] = labels[idx];
  }
  if (kept < count) {
    batch.images = batch.images.narrow(0, 0, kept);
    batch.labels = batch.labels.narrow(0, 0, kept);
  }
  return batch;
}

SampleTransform sample_transform(const Dataset& data, bool train) {
  SampleTransform t;
  t.image_size = static_cast<int>(data.image_size);
  t.train = train;
  t.exact = !data.dct_scaling;
  t.eval_resize = static_cast<int>(data.eval_resize);
  return t;
}

}  // namespace rt
