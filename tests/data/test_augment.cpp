// Augmentation: determinism, and equality with an independent torch-ops reference of
// torchvision's RandomCrop(32, padding=4) + RandomHorizontalFlip + Normalize.
#include <gtest/gtest.h>

#include "data/augment.h"
#include "data/loader.h"

namespace rt {

namespace {

torch::Tensor random_images(int64_t n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  return torch::randint(0, 256, {n, 3, 32, 32}, gen, torch::kUInt8);
}

// torchvision's order of operations, written with tensor ops: pad with zeros, crop, flip,
// then scale to [0, 1] and normalise.
torch::Tensor reference_sample(const torch::Tensor& img, const CropFlip& cf, const Normalization& n) {
  using torch::indexing::Slice;
  auto padded = torch::constant_pad_nd(img.to(torch::kFloat), {4, 4, 4, 4});
  auto crop = padded.index({Slice(), Slice(cf.dy, cf.dy + 32), Slice(cf.dx, cf.dx + 32)});
  if (cf.flip) crop = crop.flip({2});
  const auto mean = torch::tensor({n.mean[0], n.mean[1], n.mean[2]}).view({3, 1, 1});
  const auto std = torch::tensor({n.std[0], n.std[1], n.std[2]}).view({3, 1, 1});
  return (crop / 255.0 - mean) / std;
}

}  // namespace

TEST(Augment, MatchesTorchvisionReferencePerSample) {
  const auto images = random_images(64);
  std::vector<int64_t> idx(64);
  for (int64_t i = 0; i < 64; ++i) idx[i] = 63 - i;
  const Normalization norm;
  const auto batch = make_batch(images, idx.data(), 64, norm, /*augment=*/true, /*seed=*/5, /*epoch=*/2);
  double max_diff = 0;
  for (int64_t b = 0; b < 64; ++b) {
    const auto ref = reference_sample(images[idx[b]], draw_crop_flip(5, 2, idx[b]), norm);
    max_diff = std::max(max_diff, (batch[b] - ref).abs().max().item<double>());
  }
  EXPECT_LT(max_diff, 1e-5) << "max |difference| " << max_diff;
}

TEST(Augment, WithoutAugmentationIsPlainNormalisation) {
  const auto images = random_images(4);
  std::vector<int64_t> idx = {0, 1, 2, 3};
  const auto batch = make_batch(images, idx.data(), 4, Normalization{}, false, 0, 0);
  const auto ref = reference_sample(images[2], CropFlip{}, Normalization{});
  EXPECT_LT((batch[2] - ref).abs().max().item<double>(), 1e-5);
}

TEST(Augment, DeterministicPerSeedEpochAndSample) {
  // Same inputs give the same draw; the draw does not depend on batch composition.
  EXPECT_EQ(draw_crop_flip(1, 3, 17).dx, draw_crop_flip(1, 3, 17).dx);
  const auto images = random_images(8);
  std::vector<int64_t> all = {0, 1, 2, 3, 4, 5, 6, 7}, tail = {5, 6, 7};
  const auto full = make_batch(images, all.data(), 8, Normalization{}, true, 9, 1);
  const auto part = make_batch(images, tail.data(), 3, Normalization{}, true, 9, 1);
  EXPECT_TRUE(torch::equal(full.slice(0, 5, 8), part));
  // Another epoch or seed draws differently (over many samples, some differ).
  int differ_epoch = 0, differ_seed = 0, flips = 0;
  std::vector<int> dx_seen(9, 0);
  for (int64_t i = 0; i < 1000; ++i) {
    const auto a = draw_crop_flip(9, 1, i), b = draw_crop_flip(9, 2, i), c = draw_crop_flip(10, 1, i);
    differ_epoch += (a.dx != b.dx || a.dy != b.dy || a.flip != b.flip);
    differ_seed += (a.dx != c.dx || a.dy != c.dy || a.flip != c.flip);
    flips += a.flip;
    ++dx_seen[a.dx];
  }
  EXPECT_GT(differ_epoch, 900);
  EXPECT_GT(differ_seed, 900);
  EXPECT_NEAR(flips, 500, 80);                    // p = 0.5
  for (int v : dx_seen) EXPECT_NEAR(v, 111, 45);  // uniform over 0..8
}

// airbench94's augmentation (Jordan 2024): shifts of up to 2 pixels with reflect padding
// (torch's F.pad(..., 'reflect'), reflection_pad2d here), and the alternating flip.
namespace {

Augmentation airbench_augmentation() {
  Augmentation a(true);
  a.pad = 2;
  a.reflect = true;
  a.flip = Augmentation::Flip::kAlternate;
  return a;
}

}  // namespace

TEST(Augment, ReflectPaddedShiftsMatchTorchsReflectionPad) {
  const auto images = random_images(64);
  std::vector<int64_t> idx(64);
  for (int64_t i = 0; i < 64; ++i) idx[i] = (i * 11) % 64;
  const Augmentation aug = airbench_augmentation();
  const Normalization norm;
  const auto batch = make_batch(images, idx.data(), 64, norm, aug, 4, 3);
  const auto mean = torch::tensor({norm.mean[0], norm.mean[1], norm.mean[2]}).view({3, 1, 1});
  const auto std = torch::tensor({norm.std[0], norm.std[1], norm.std[2]}).view({3, 1, 1});
  std::vector<int> dy_seen(5, 0);
  double max_diff = 0;
  for (int64_t b = 0; b < 64; ++b) {
    const CropFlip cf = draw_crop_flip(aug, 4, 3, idx[b]);
    ASSERT_TRUE(cf.dy >= 0 && cf.dy <= 4 && cf.dx >= 0 && cf.dx <= 4);
    ++dy_seen[cf.dy];
    using torch::indexing::Slice;
    const auto padded = torch::reflection_pad2d(images[idx[b]].to(torch::kFloat).unsqueeze(0), {2, 2, 2, 2})[0];
    auto crop = padded.index({Slice(), Slice(cf.dy, cf.dy + 32), Slice(cf.dx, cf.dx + 32)});
    if (cf.flip) crop = crop.flip({2});
    max_diff = std::max(max_diff, (batch[b] - (crop / 255.0 - mean) / std).abs().max().item<double>());
  }
  EXPECT_LT(max_diff, 1e-5);
  for (int v : dy_seen) EXPECT_GT(v, 0);  // every shift of -2..2 occurs
}

TEST(Augment, AlternatingFlipMirrorsEachSampleInEveryOtherEpoch) {
  const Augmentation aug = airbench_augmentation();
  int flipped_first = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    const bool first = draw_crop_flip(aug, 7, 0, i).flip;
    flipped_first += first;
    for (int64_t epoch = 1; epoch < 6; ++epoch) {
      ASSERT_EQ(draw_crop_flip(aug, 7, epoch, i).flip, first != (epoch % 2 == 1))
          << "sample " << i << " epoch " << epoch;
    }
  }
  EXPECT_NEAR(flipped_first, 500, 80);  // each sample's own coin
  Augmentation none = aug;
  none.flip = Augmentation::Flip::kNone;
  for (int64_t i = 0; i < 100; ++i) EXPECT_FALSE(draw_crop_flip(none, 7, 1, i).flip);
  // The default draws are the ones runs have always had (pad 4: 9 positions).
  for (int64_t i = 0; i < 100; ++i) {
    const CropFlip a = draw_crop_flip(Augmentation(true), 9, 1, i), b = draw_crop_flip(9, 1, i);
    EXPECT_TRUE(a.dy == b.dy && a.dx == b.dx && a.flip == b.flip);
  }
}

TEST(Loader, YieldsEveryBatchInOrderWithPrefetch) {
  Dataset d;
  d.images = random_images(50);
  d.labels = torch::arange(50, torch::kInt64) % 10;
  d.class_names = std::vector<std::string>(10, "c");
  std::vector<int64_t> order(50);
  for (int64_t i = 0; i < 50; ++i) order[i] = (i * 7) % 50;
  LoaderSpec spec;
  spec.batch_size = 16;
  spec.prefetch = 2;
  BatchLoader loader(d, order, spec);
  EXPECT_EQ(loader.num_batches(), 4);
  int64_t seen = 0;
  while (auto b = loader.next()) {
    for (int64_t i = 0; i < b->labels.size(0); ++i) {
      EXPECT_EQ(b->labels[i].item<int64_t>(), order[seen + i] % 10);
    }
    seen += b->labels.size(0);
  }
  EXPECT_EQ(seen, 50);
  spec.drop_last = true;
  spec.first_batch = 1;
  BatchLoader resumed(d, order, spec);
  EXPECT_EQ(resumed.num_batches(), 3);
  EXPECT_EQ(resumed.next()->index, 1);
  // Destroying a loader that was not drained must not hang.
}

TEST(Augment, DevicePathEqualsTheFusedLoopBitwise) {
  // The tensor-op batch (used for data kept in GPU memory) against the fused CPU loop, here
  // on the CPU where both run: same random choices, same float arithmetic, same bits.
  const auto images = random_images(40);
  std::vector<int64_t> idx = {3, 0, 39, 17, 17, 8, 25, 1, 30, 12};
  for (const Augmentation& augment : {Augmentation(false), Augmentation(true), airbench_augmentation()}) {
    for (int64_t epoch : {0, 5}) {
      const DeviceEpochPlan plan(torch::kCPU, idx, Normalization{}, augment, 11, epoch);
      const auto a = make_batch(images, idx.data(), 10, Normalization{}, augment, 11, epoch);
      const auto b = plan.batch(images, 0, 10);
      EXPECT_TRUE(torch::equal(a, b)) << "augment " << augment.enabled << " pad " << augment.pad << " epoch " << epoch
                                      << " max diff " << (a - b).abs().max().item<float>();
      // A batch from the middle of the epoch's plan: positions 3..7.
      const auto part = make_batch(images, idx.data() + 3, 5, Normalization{}, augment, 11, epoch);
      EXPECT_TRUE(torch::equal(part, plan.batch(images, 3, 5)));
      EXPECT_TRUE(torch::equal(plan.indices(3, 5), torch::tensor({17, 17, 8, 25, 1}, torch::kInt64)));
    }
  }
}

TEST(Loader, OnDeviceModeYieldsTheSameBatches) {
  Dataset d;
  d.images = random_images(37);
  d.labels = torch::arange(37, torch::kInt64) % 10;
  d.class_names = std::vector<std::string>(10, "c");
  std::vector<int64_t> order(37);
  for (int64_t i = 0; i < 37; ++i) order[i] = (i * 5) % 37;
  LoaderSpec spec;
  spec.batch_size = 8;
  spec.augment = true;
  spec.seed = 3;
  spec.epoch = 2;
  spec.first_batch = 1;
  BatchLoader threaded(d, order, spec);
  spec.on_device = true;
  BatchLoader synchronous(d, order, spec);
  ASSERT_EQ(threaded.num_batches(), synchronous.num_batches());
  int64_t batches = 0;
  while (auto a = threaded.next()) {
    auto b = synchronous.next();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(a->index, b->index);
    EXPECT_TRUE(torch::equal(a->images, b->images));
    EXPECT_TRUE(torch::equal(a->labels, b->labels));
    ++batches;
  }
  EXPECT_FALSE(synchronous.next().has_value());
  EXPECT_EQ(batches, 4);  // 5 batches of 8 (the last of 5), resumed at batch 1
}

}  // namespace rt
