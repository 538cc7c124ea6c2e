// The resized-image cache (data/image_cache.h): each image stored once at its bounded side and
// read back the same; a changed source read again; an entry that is not whole and valid (cut
// short, altered, crafted, another source's) never trusted but made again; later epochs that
// read no source file at all; batches through the cache the same on every epoch.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include <cstring>
#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "data/file_batch.h"
#include "data/image_cache.h"
#include "data/image_decode.h"
#include "data/image_transforms.h"
#include "data/jpeg_encode.h"
#include "test_util.h"

namespace rt {
namespace {

using test::TempDir;

// A smooth w x h RGB picture (JPEG-friendly), [h, w, 3] uint8, different per `seed`.
torch::Tensor picture(int w, int h, int seed) {
  const auto y = torch::arange(h, torch::kFloat32).view({h, 1, 1});
  const auto x = torch::arange(w, torch::kFloat32).view({1, w, 1});
  const auto c = torch::arange(3, torch::kFloat32).view({1, 1, 3});
  const auto v = 127.5 + 100 * torch::sin(x / (17.0 + seed) + c) * torch::cos(y / (23.0 + 3 * seed) - c);
  return v.round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

// Writes `rgb` as a JPEG with libjpeg-turbo's TurboJPEG API (not the code under test).
void write_jpeg(const std::string& path, const torch::Tensor& rgb, int quality = 90) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int w = static_cast<int>(rgb.size(1)), h = static_cast<int>(rgb.size(0));
  ASSERT_EQ(tjCompress2(tj, rgb.data_ptr<uint8_t>(), w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_420, quality, 0), 0);
  test::write_bytes(path, std::string(reinterpret_cast<const char*>(buf), size));
  tjFree(buf);
  tjDestroy(tj);
}

// Writes `rgb` as a binary PPM (P6).
void write_ppm(const std::string& path, const torch::Tensor& rgb) {
  std::string s = "P6\n" + std::to_string(rgb.size(1)) + " " + std::to_string(rgb.size(0)) + "\n255\n";
  s.append(reinterpret_cast<const char*>(rgb.data_ptr<uint8_t>()), static_cast<size_t>(rgb.numel()));
  test::write_bytes(path, s);
}

// Sets a file's modification time to `seconds` after the epoch.
void set_mtime(const std::string& path, int64_t seconds) {
  struct timespec times[2] = {{static_cast<time_t>(seconds), 0}, {static_cast<time_t>(seconds), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

torch::Tensor pixels_of(const CachedImage& c) {
  if (c.raw()) return c.rgb;
  const ImageInfo info = probe_image(c.path, c.bytes);
  return decode_rgb(c.path, c.bytes, info);
}

ImageCacheOptions options(const std::string& dir, int max_side, bool raw) {
  ImageCacheOptions o;
  o.dir = dir;
  o.max_side = max_side;
  o.raw = raw;
  return o;
}

// Note [The encoder's output buffer]: noise at quality 100 outgrows the half-raw-size buffer the
// encoder starts with, so the JPEG ends in a buffer libjpeg grew; it is whole and decodes to the
// image (ASan and the fuzzers check the freeing).
TEST(JpegEncode, AJpegThatOutgrowsTheFirstBufferIsWhole) {
  torch::manual_seed(0);
  const auto noise = torch::randint(0, 256, {768, 768, 3}, torch::kUInt8);
  const auto bytes = encode_jpeg(noise, 100);
  ASSERT_GT(bytes.size(), 768u * 768u * 3u / 2u + 65536u) << "the test needs a JPEG past the first buffer";
  const ImageInfo info = probe_image("noise.jpg", bytes);
  ASSERT_EQ(info.width, 768);
  ASSERT_EQ(info.height, 768);
  const auto back = decode_rgb("noise.jpg", bytes, info);
  // It is this image: nearer to it than to other noise (4:2:0 averages away the chroma of noise,
  // so the error is far from 0; two unrelated noise images differ by 85 on average).
  const auto to_f = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  const double error = (to_f(back) - to_f(noise)).abs().mean().item<double>();
  const double unrelated =
      (to_f(back) - to_f(torch::randint(0, 256, {768, 768, 3}, torch::kUInt8))).abs().mean().item<double>();
  EXPECT_LT(error, 0.7 * unrelated) << error << " vs " << unrelated;
  // A smooth image stays in the first buffer and comes back close.
  const auto ramp =
      torch::arange(256, torch::kFloat32).div(256).mul(255).to(torch::kUInt8).view({1, 256, 1}).expand({256, 256, 3});
  const auto smooth = encode_jpeg(ramp, 95);
  EXPECT_LT(smooth.size(), 256u * 256u * 3u / 2u);
  const auto ramp_back = decode_rgb("ramp.jpg", smooth, probe_image("ramp.jpg", smooth));
  EXPECT_LT((ramp_back.to(torch::kFloat32) - ramp.to(torch::kFloat32)).abs().max().item<double>(), 8.0);
}

TEST(ImageCache, StoredSizesKeepTheAspectWithTheLongerSideBounded) {
  EXPECT_EQ(cached_size(640, 480, 256), (std::array<int, 2>{256, 192}));
  EXPECT_EQ(cached_size(300, 200, 256), (std::array<int, 2>{256, 171}));  // 170.67
  EXPECT_EQ(cached_size(200, 300, 256), (std::array<int, 2>{171, 256}));
  EXPECT_EQ(cached_size(100, 80, 256), (std::array<int, 2>{100, 80}));  // fits: its own size
  EXPECT_EQ(cached_size(5000, 3, 256), (std::array<int, 2>{256, 1}));   // never 0
}

TEST(ImageCache, StoresEachImageOnceResizedAndReadsItBack) {
  TempDir dir;
  const auto big = picture(640, 480, 1);
  write_ppm(dir / "big.ppm", big);
  // The reference: the source decoded whole and resized with the antialiased bilinear that
  // tests/data/test_image_pipeline.cpp checks against torchvision.
  const auto expected = resized_crop(big, CropBox{0, 0, 480, 640}, 192, 256).contiguous();
  for (const bool raw : {true, false}) {
    SCOPED_TRACE(raw ? "raw" : "jpeg");
    const ImageCache cache(options(dir / (raw ? "raw" : "jpeg"), 256, raw));
    const CachedImage first = cache.load(dir / "big.ppm");
    EXPECT_FALSE(first.from_entry);
    EXPECT_EQ(cache.made(), 1);
    EXPECT_TRUE(file_exists(cache.entry_path(dir / "big.ppm")));
    const CachedImage second = cache.load(dir / "big.ppm");
    EXPECT_TRUE(second.from_entry);
    EXPECT_EQ(cache.hits(), 1);
    EXPECT_EQ(cache.made(), 1);
    EXPECT_EQ(second.info.width, 256);
    EXPECT_EQ(second.info.height, 192);
    EXPECT_TRUE(torch::equal(pixels_of(first), pixels_of(second)));
    const auto got = pixels_of(second).to(torch::kInt32);
    const int max_diff = (got - expected.to(torch::kInt32)).abs().max().item<int>();
    if (raw) {
      EXPECT_EQ(max_diff, 0);  // raw pixels are the resize itself
    } else {
      EXPECT_LE(max_diff, 12);  // JPEG at quality 95 of a smooth picture
      EXPECT_LT((got - expected.to(torch::kInt32)).abs().to(torch::kFloat32).mean().item<float>(), 1.5);
    }
  }
}

TEST(ImageCache, AJpegThatFitsIsKeptByteForByte) {
  TempDir dir;
  write_jpeg(dir / "small.jpg", picture(200, 150, 2));
  const ImageCache cache(options(dir / "c", 256, false));
  const CachedImage c = cache.load(dir / "small.jpg");
  EXPECT_EQ(c.bytes, read_file_bytes(dir / "small.jpg"));
  EXPECT_EQ(cache.load(dir / "small.jpg").bytes, c.bytes);
  EXPECT_EQ(cache.hits(), 1);
}

TEST(ImageCache, AChangedSourceIsReadAgain) {
  TempDir dir;
  const std::string src = dir / "a.jpg";
  write_jpeg(src, picture(600, 400, 3));
  set_mtime(src, 1000000);
  const ImageCache cache(options(dir / "c", 128, false));
  const auto before = pixels_of(cache.load(src));
  // Another picture of the same size and byte count is not possible to promise; what counts is
  // the modification time or the size: first a new time with the same bytes ...
  set_mtime(src, 1000001);
  EXPECT_FALSE(cache.load(src).from_entry);
  EXPECT_EQ(cache.made(), 2);
  EXPECT_TRUE(cache.load(src).from_entry);
  // ... then new content (another picture, another size).
  write_jpeg(src, picture(300, 500, 4));
  const CachedImage after = cache.load(src);
  EXPECT_FALSE(after.from_entry);
  EXPECT_EQ(after.info.width, 77);  // 300 x 128 / 500 = 76.8
  EXPECT_EQ(after.info.height, 128);
  EXPECT_EQ(cache.made(), 3);
  EXPECT_FALSE(torch::equal(before.narrow(1, 0, 77), pixels_of(after).narrow(0, 0, 85)));
}

TEST(ImageCache, ALaterReadTakesTheEntryWithoutReadingTheSource) {
  TempDir dir;
  const std::string src = dir / "a.ppm";
  write_ppm(src, picture(300, 300, 5));
  set_mtime(src, 2000000);
  const ImageCache cache(options(dir / "c", 100, true));
  const auto stored = pixels_of(cache.load(src));
  // Other pixels of the same size under the same time: only an entry that is really read
  // (and no decoding of the source) gives the first picture back.
  write_ppm(src, picture(300, 300, 6));
  set_mtime(src, 2000000);
  const CachedImage again = cache.load(src);
  EXPECT_TRUE(again.from_entry);
  EXPECT_TRUE(torch::equal(again.rgb, stored));
}

TEST(ImageCache, AnEntryThatIsNotWholeAndValidIsMadeAgain) {
  TempDir dir;
  const std::string a = dir / "a.jpg", b = dir / "b.jpg";
  write_jpeg(a, picture(400, 300, 7));
  write_jpeg(b, picture(400, 300, 8));
  for (const bool raw : {false, true}) {
    SCOPED_TRACE(raw ? "raw" : "jpeg");
    const ImageCache cache(options(dir / (raw ? "raw" : "jpeg"), 64, raw));
    const auto good_a = pixels_of(cache.load(a));
    cache.load(b);
    const std::string entry = cache.entry_path(a);
    const auto valid = read_file_bytes(entry);
    CacheEntry parsed;
    std::string why;
    ASSERT_TRUE(parse_cache_entry(valid, parsed, why)) << why;
    EXPECT_EQ(parsed.source, std::filesystem::absolute(a).lexically_normal().string());
    std::vector<std::vector<unsigned char>> bad;
    for (size_t n : {size_t{0}, size_t{5}, size_t{30}, parsed.payload_offset, valid.size() - 1})
      bad.emplace_back(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(n));  // cut short
    for (size_t at : {size_t{3}, size_t{9}, size_t{13}, size_t{17}, size_t{21}, size_t{41}, size_t{45}}) {
      auto v = valid;  // a header field changed: magic, format, side, width, height, path length, path
      v[at] ^= 0x5A;
      bad.push_back(v);
    }
    {
      auto v = valid;  // the payload's data changed (a JPEG's entropy-coded data, or pixels)
      for (size_t i = valid.size() - 40; i < valid.size() - 2; ++i) v.at(i) = 0xFF;
      bad.push_back(v);
    }
    {
      auto v = valid;  // the checksum changed
      v[parsed.payload_offset - 2] ^= 1;
      bad.push_back(v);
    }
    bad.push_back(read_file_bytes(cache.entry_path(b)));  // another source's entry under a's name
    {
      auto v = valid;  // a payload longer than the file
      v.push_back(0);
      bad.push_back(v);
    }
    for (size_t i = 0; i < bad.size(); ++i) {
      SCOPED_TRACE(i);
      test::write_bytes(entry, std::string(bad[i].begin(), bad[i].end()));
      const CachedImage c = cache.load(a);
      EXPECT_FALSE(c.from_entry);
      EXPECT_TRUE(torch::equal(pixels_of(c), good_a));
      EXPECT_EQ(read_file_bytes(entry), valid);
    }
  }
}

TEST(ImageCache, ParsingAnyPrefixOrByteChangeOfAnEntryNeverThrows) {
  CacheEntry e;
  e.format = 2;
  e.max_side = 8;
  e.width = 2;
  e.height = 1;
  e.source_size = 10;
  e.source_mtime_ns = 5;
  e.source = "/x/y.png";
  const auto valid = cache_entry_bytes(e, std::vector<unsigned char>(6, 7));
  CacheEntry got;
  std::string why;
  ASSERT_TRUE(parse_cache_entry(valid, got, why)) << why;
  EXPECT_EQ(got.source, e.source);
  EXPECT_EQ(got.payload_size, 6u);
  for (size_t n = 0; n < valid.size(); ++n) {
    EXPECT_FALSE(parse_cache_entry(std::vector<unsigned char>(valid.begin(), valid.begin() + n), got, why)) << n;
  }
  for (size_t i = 0; i < valid.size(); ++i) {
    for (const unsigned char x : {0x01, 0x80, 0xFF}) {
      auto v = valid;
      v[i] ^= x;
      parse_cache_entry(v, got, why);  // true or false, never a throw or a read past the end
    }
  }
}

TEST(ImageCache, BatchesThroughTheCacheAreTheSameInEveryEpochAndRepairBadEntries) {
  TempDir dir;
  Dataset data;
  auto files = std::make_shared<std::vector<std::string>>();
  for (int i = 0; i < 6; ++i) {
    const std::string p = dir / ("img" + std::to_string(i) + ".jpg");
    write_jpeg(p, picture(320 + 20 * i, 240, 10 + i));
    files->push_back(p);
  }
  data.files = files;
  data.labels = torch::arange(6, torch::kInt64);
  data.class_names = {"0", "1", "2", "3", "4", "5"};
  data.image_size = 64;
  data.cache = std::make_shared<const ImageCache>(options(dir / "c", 128, false));
  const std::vector<int64_t> idx = {0, 1, 2, 3, 4, 5};
  for (const bool train : {true, false}) {
    FileBatchSpec spec;
    spec.augment = train;
    spec.seed = 3;
    spec.epoch = 1;
    const auto first = make_file_batch(data, idx.data(), 6, spec);
    const auto second = make_file_batch(data, idx.data(), 6, spec);
    EXPECT_TRUE(torch::equal(first.images, second.images));
    // An entry whole and intact by its header and checksum whose JPEG is cut short (crafted:
    // its checksum made for the cut payload) is made again, with the same crop.
    const std::string entry = data.cache->entry_path((*files)[2]);
    const auto bytes = read_file_bytes(entry);
    CacheEntry e;
    std::string why;
    ASSERT_TRUE(parse_cache_entry(bytes, e, why)) << why;
    const std::vector<unsigned char> cut(
        bytes.begin() + static_cast<std::ptrdiff_t>(e.payload_offset),
        bytes.begin() + static_cast<std::ptrdiff_t>(e.payload_offset + e.payload_size / 2));
    const auto crafted = cache_entry_bytes(e, cut);
    test::write_bytes(entry, std::string(crafted.begin(), crafted.end()));
    EXPECT_TRUE(data.cache->load((*files)[2]).from_entry);  // nothing in it says otherwise
    const auto repaired = make_file_batch(data, idx.data(), 6, spec);
    EXPECT_TRUE(torch::equal(first.images, repaired.images));
    EXPECT_TRUE(repaired.skipped.empty());
  }
  EXPECT_EQ(data.cache->made(), 6 + 2);  // the six, then the crafted one once per pass
}

TEST(ImageCache, ASourceThatCannotBeReadIsNamed) {
  TempDir dir;
  test::write_bytes(dir / "bad.jpg", "\xFF\xD8\xFF garbage");
  const ImageCache cache(options(dir / "c", 64, false));
  try {
    cache.load(dir / "bad.jpg");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "bad.jpg"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cache.load(dir / "missing.jpg"), UserError);
}

TEST(ImageCache, AFolderThatCannotBeMadeIsAUserError) {
  TempDir dir;
  test::write_bytes(dir / "file", "x");
  EXPECT_THROW(ImageCache(options(dir / "file/sub", 64, false)), UserError);
}

}  // namespace
}  // namespace rt
