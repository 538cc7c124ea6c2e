// The C++ image pipeline against PIL and torchvision: decoding every format (pixel-exact with
// PIL, also at reduced DCT scales against PIL's draft()), torchvision's resized crop, flip and
// evaluation resize + centre crop on fixed parameters (exact against its uint8-tensor path,
// within 2 levels of its PIL-image path). The references come from make_image_references.py
// (ctest fixture image_references); the property tests below need none.
#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "core/errors.h"
#include "core/files.h"
#include "data/image_decode.h"
#include "data/image_transforms.h"

namespace rt {
namespace {

// A reference's raw pixels as [h, w, 3] uint8.
torch::Tensor read_raw(const std::string& path, int64_t h, int64_t w) {
  const auto bytes = read_file_bytes(path);
  EXPECT_EQ(static_cast<int64_t>(bytes.size()), h * w * 3) << path;
  return torch::from_blob(const_cast<unsigned char*>(bytes.data()), {h, w, 3}, torch::kUInt8).clone();
}

// The output of what a case asks for, as [h, w, 3] uint8.
torch::Tensor compute(const std::string& dir, const nlohmann::json& c) {
  const std::string path = dir + "/" + c["file"].get<std::string>();
  const auto bytes = read_file_bytes(path);
  const ImageInfo info = probe_image(path, bytes);
  const std::string kind = c["kind"];
  if (kind == "decode") return decode_rgb(path, bytes, info, c.value("eighths", 8));
  const auto rgb = decode_rgb(path, bytes, info);
  if (kind == "resized_crop") {
    const CropBox box{c["top"], c["left"], c["box_height"], c["box_width"]};
    auto out = resized_crop(rgb, box, c["size"], c["size"]).contiguous();
    return c["flip"].get<bool>() ? out.flip(1).contiguous() : out;
  }
  EXPECT_EQ(kind, "eval");
  const int size = c["size"];
  const auto [rh, rw] = resized_size(info.width, info.height, eval_resize_side(size));
  const auto resized = resized_crop(rgb, {0, 0, info.height, info.width}, rh, rw);
  const CropBox cc = center_crop_box(rw, rh, size);
  return resized.narrow(0, cc.top, cc.height).narrow(1, cc.left, cc.width).contiguous();
}

TEST(ImagePipeline, MatchesPilAndTorchvision) {
  const std::string dir = RT_IMAGE_REFS_DIR;
  if (!file_exists(dir + "/manifest.json")) GTEST_SKIP() << dir << " not made (ctest runs image_references)";
  std::ifstream in(dir + "/manifest.json");
  const auto manifest = nlohmann::json::parse(in);
  int checked = 0;
  for (const auto& c : manifest["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto expected = read_raw(dir + "/" + c["ref"].get<std::string>(), c["height"], c["width"]);
    const auto got = compute(dir, c);
    ASSERT_EQ(got.sizes(), expected.sizes());
    const int max_diff = (got.to(torch::kInt32) - expected.to(torch::kInt32)).abs().max().item<int>();
    EXPECT_LE(max_diff, c["tolerance"].get<int>());
    ++checked;
  }
  EXPECT_GE(checked, 90);  // JPEG, PNG, WebP, TIFF, BMP and netpbm kinds, the scaled decodes and the crops
}

TEST(ImagePipeline, DecodingARegionGivesThoseOfTheWholeImagesPixels) {
  const std::string dir = RT_IMAGE_REFS_DIR;
  if (!file_exists(dir + "/large.jpg")) GTEST_SKIP() << dir << " not made (ctest runs image_references)";
  int checked = 0;
  for (const char* name :
       {"baseline.jpg", "baseline444.jpg", "progressive.jpg", "grey.jpg", "cmyk.jpg", "large.jpg", "rgb.png"}) {
    const std::string path = dir + "/" + name;
    const auto bytes = read_file_bytes(path);
    const ImageInfo info = probe_image(path, bytes);
    for (const int eighths : {8, 4, 2}) {
      if (info.format == ImageFormat::kPng && eighths != 8) continue;
      const auto whole = decode_rgb(path, bytes, info, eighths);
      const int h = static_cast<int>(whole.size(0)), w = static_cast<int>(whole.size(1));
      SampleRandom random(11, 0, eighths);
      for (int i = 0; i < 30; ++i) {  // regions at odd offsets and sizes, touching the edges too
        CropBox r;
        r.top = i % 4 == 0 ? 0 : random.below(h - 1);
        r.left = i % 3 == 0 ? 0 : random.below(w - 1);
        r.height = i % 5 == 0 ? h - r.top : 1 + random.below(h - r.top);
        r.width = i % 2 == 0 ? w - r.left : 1 + random.below(w - r.left);
        SCOPED_TRACE(
            fmt::format("{} at {}/8: rows {}+{} columns {}+{}", name, eighths, r.top, r.height, r.left, r.width));
        const auto part = decode_rgb(path, bytes, info, eighths, r);
        ASSERT_TRUE(torch::equal(part, whole.narrow(0, r.top, r.height).narrow(1, r.left, r.width)));
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 6 * 3 * 30 + 30);
}

TEST(ImagePipeline, DctScaledCropIsCloseToTheFullSizeOne) {
  const std::string dir = RT_IMAGE_REFS_DIR;
  if (!file_exists(dir + "/photo.jpg")) GTEST_SKIP() << dir << " not made (ctest runs image_references)";
  const std::string path = dir + "/photo.jpg";
  const auto bytes = read_file_bytes(path);
  const ImageInfo info = probe_image(path, bytes);
  SampleTransform exact, fast;
  exact.exact = true;
  fast.image_size = exact.image_size = 64;
  Normalization unit{{0, 0, 0}, {1, 1, 1}};
  double worst_mean = 0, sum_mean = 0;
  int reduced = 0;
  for (int sample = 0; sample < 40; ++sample) {
    auto a = torch::empty({3, 64, 64}), b = torch::empty({3, 64, 64});
    SampleRandom ra(7, 0, sample), rb(7, 0, sample);
    transform_image_file(path, bytes, exact, ra, unit, a.data_ptr<float>());
    transform_image_file(path, bytes, fast, rb, unit, b.data_ptr<float>());
    worst_mean = std::max(worst_mean, (a - b).abs().mean().item<double>() * 255);
    SampleRandom again(7, 0, sample);
    const CropBox box = random_resized_crop_box(info.width, info.height, fast.range, again);
    reduced += reduced_scale(info, box.width, box.height, 64, 64) < 8;
    sum_mean += (a - b).abs().mean().item<double>() * 255;
  }
  std::cout << "DCT-scaled crops of photo.jpg at 64 px: mean |difference| " << sum_mean / 40 << " levels, worst crop "
            << worst_mean << "\n";
  // Measured with PIL's draft() and torchvision on this image: 1.2 levels on average at 1/2
  // scale, 1.7 at 1/4, worst crop 3.7 (a crop misplaced by 4 pixels differs by 4-10 levels).
  EXPECT_LT(sum_mean / 40, 2.0);
  EXPECT_LT(worst_mean, 4.0);
  EXPECT_GT(reduced, 30);  // most of these crops took the fast path
}

TEST(ImageTransforms, RandomResizedCropDrawsInTorchvisionsRanges) {
  const ResizedCropRange range;
  int64_t fallbacks = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    SampleRandom random(3, 1, i);
    const CropBox b = random_resized_crop_box(500, 375, range, random);
    ASSERT_GT(b.width, 0);
    ASSERT_GE(b.top, 0);
    ASSERT_GE(b.left, 0);
    ASSERT_LE(b.top + b.height, 375);
    ASSERT_LE(b.left + b.width, 500);
    const double share = static_cast<double>(b.width) * b.height / (500.0 * 375.0);
    const double ratio = static_cast<double>(b.width) / b.height;
    if (b.width == 500 && b.height == 375) {
      ++fallbacks;
      continue;
    }
    // Rounding w and h to pixels moves share and ratio a little past the drawn ranges.
    EXPECT_GE(share, 0.08 * 0.97);
    EXPECT_LE(ratio, 4.0 / 3.0 * 1.03);
    EXPECT_GE(ratio, 3.0 / 4.0 / 1.03);
  }
  EXPECT_LT(fallbacks, 20);
  // The same (seed, epoch, sample) draws the same box; another epoch another one.
  SampleRandom a(3, 1, 5), b(3, 1, 5), c(3, 2, 5);
  EXPECT_EQ(random_resized_crop_box(500, 375, range, a), random_resized_crop_box(500, 375, range, b));
  SampleRandom a2(3, 1, 5);
  EXPECT_FALSE(random_resized_crop_box(500, 375, range, a2) == random_resized_crop_box(500, 375, range, c));
}

TEST(ImageTransforms, RandomResizedCropFallsBackToTheCentredClippedImage) {
  // No crop of a 1000x10 image has an aspect ratio within [3/4, 4/3] and 8% of its area: all 10
  // tries fail, and torchvision takes the whole height, width round(10 * 4/3) = 13, centred.
  SampleRandom random(1, 0, 0);
  EXPECT_EQ(random_resized_crop_box(1000, 10, ResizedCropRange{}, random), (CropBox{0, 493, 10, 13}));
  SampleRandom tall(1, 0, 0);
  EXPECT_EQ(random_resized_crop_box(10, 1000, ResizedCropRange{}, tall), (CropBox{493, 0, 13, 10}));
}

TEST(ImageTransforms, EvaluationSizesAsTorchvision) {
  EXPECT_EQ(eval_resize_side(224), 256);
  EXPECT_EQ(eval_resize_side(128), 146);
  EXPECT_EQ(resized_size(500, 375, 256), (std::array<int, 2>{256, 341}));  // {h, w}: int(256 * 500 / 375)
  EXPECT_EQ(resized_size(375, 500, 256), (std::array<int, 2>{341, 256}));
  // Offsets int(round((341 - 224) / 2)) = round(58.5) = 58 (half to even), (256 - 224) / 2 = 16.
  EXPECT_EQ(center_crop_box(341, 256, 224), (CropBox{16, 58, 224, 224}));
}

TEST(ImageDecode, BadFilesAreNamedUserErrors) {
  const std::string dir = RT_IMAGE_REFS_DIR;
  if (!file_exists(dir + "/baseline.jpg")) GTEST_SKIP() << dir << " not made (ctest runs image_references)";
  auto bytes = read_file_bytes(dir + "/baseline.jpg");
  // Truncated: the header is fine, the scan ends early (PIL: "image file is truncated").
  std::vector<unsigned char> truncated(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2));
  const ImageInfo info = probe_image("t.jpg", truncated);
  try {
    decode_rgb("t.jpg", truncated, info);
    ADD_FAILURE() << "a truncated JPEG decoded";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("t.jpg"), std::string::npos) << e.what();
  }
  const std::vector<unsigned char> text = {'h', 'e', 'l', 'l', 'o'};
  EXPECT_THROW(probe_image("x.jpg", text), UserError);
  EXPECT_THROW(probe_image("empty.png", {}), UserError);
  auto png = read_file_bytes(dir + "/rgb.png");
  png.resize(png.size() / 2);
  EXPECT_THROW(decode_rgb("half.png", png, probe_image("half.png", png)), UserError);
  // The formats decoded whole: cut in half, each is refused (at the probe or the decode) naming the file.
  for (const char* name : {"lossy.webp", "lzw.tif", "jpeg.tif", "tiled.tif", "rgb.bmp", "rle8.bmp", "rle4.bmp",
                           "rgb.ppm", "plain.pgm", "bilevel.pbm"}) {
    auto half = read_file_bytes(dir + "/" + name);
    half.resize(half.size() / 2);
    const std::string path = std::string("half_") + name;
    try {
      decode_rgb(path, half, probe_image(path, half));
      ADD_FAILURE() << name << " cut in half decoded";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace

// Note [Bounded decoding]: crafted files that would take minutes or gigabytes are refused.
namespace {

// A w x h gradient as JPEG (progressive when asked: libjpeg's 10-scan progression), 4:2:0.
std::vector<unsigned char> make_jpeg(int w, int h, bool progressive) {
  std::vector<unsigned char> rgb(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<unsigned char>(i * 7 % 251);
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(
      tjCompress2(tj, rgb.data(), w, 0, h, TJPF_RGB, &buf, &size, TJSAMP_420, 90, progressive ? TJFLAG_PROGRESSIVE : 0),
      0);
  std::vector<unsigned char> jpeg(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  return jpeg;
}

std::vector<unsigned char> make_png(int w, int h) {
  std::vector<unsigned char> rgb(static_cast<size_t>(w) * h * 3, 128);
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_to_memory(&img, nullptr, &size, 0, rgb.data(), 0, nullptr));
  std::vector<unsigned char> png(size);
  EXPECT_TRUE(png_image_write_to_memory(&img, png.data(), &size, 0, rgb.data(), 0, nullptr));
  png.resize(size);
  return png;
}

void put_be(std::vector<unsigned char>& b, size_t at, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[at + i] = static_cast<unsigned char>(v >> (8 * (bytes - 1 - i)));
}

// The JPEG with its frame header (SOF0/SOF2) declaring w x h.
std::vector<unsigned char> jpeg_declaring(std::vector<unsigned char> jpeg, int w, int h) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
      put_be(jpeg, i + 5, static_cast<uint32_t>(h), 2);
      put_be(jpeg, i + 7, static_cast<uint32_t>(w), 2);
      return jpeg;
    }
  }
  ADD_FAILURE() << "no SOF marker";
  return jpeg;
}

// The PNG with its IHDR declaring w x h (and the chunk's CRC mended, as libpng checks it).
std::vector<unsigned char> png_declaring(std::vector<unsigned char> png, uint32_t w, uint32_t h) {
  put_be(png, 16, w, 4);
  put_be(png, 20, h, 4);
  uint32_t crc = 0xFFFFFFFFu;  // CRC-32 of "IHDR" and its 13 bytes: png[12, 29)
  for (size_t i = 12; i < 29; ++i) {
    crc ^= png[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  put_be(png, 29, crc ^ 0xFFFFFFFFu, 4);
  return png;
}

template <typename F>
std::string user_error_of(F f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no UserError)";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST(DecodeBounds, AJpegOfMoreThanAHundredScansIsRefused) {
  const auto jpeg = make_jpeg(64, 48, /*progressive=*/true);
  // Its last scan (SOS to EOI) repeated: 10 + 150 scans.
  size_t last_sos = 0;
  for (size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) last_sos = i;
  }
  ASSERT_GT(last_sos, 0u);
  std::vector<unsigned char> many(jpeg.begin(), jpeg.end() - 2);
  for (int k = 0; k < 150; ++k) many.insert(many.end(), jpeg.begin() + static_cast<long>(last_sos), jpeg.end() - 2);
  many.insert(many.end(), {0xFF, 0xD9});
  EXPECT_EQ(decode_rgb("ok.jpg", jpeg, probe_image("ok.jpg", jpeg)).sizes(), (std::vector<int64_t>{48, 64, 3}));
  const auto start = std::chrono::steady_clock::now();
  const ImageInfo info = probe_image("scans.jpg", many);
  for (const int eighths : {8, 1}) {
    const std::string e = user_error_of([&] { decode_rgb("scans.jpg", many, info, eighths); });
    EXPECT_NE(e.find("scans.jpg: JPEG data is corrupt"), std::string::npos) << e;
    EXPECT_NE(e.find("more than 100 scans"), std::string::npos) << e;
  }
  EXPECT_LT(seconds_since(start), 2.0);
}

TEST(DecodeBounds, HugeSizesDeclaredByTinyFilesAreRefusedBeforeDecoding) {
  const auto start = std::chrono::steady_clock::now();
  for (const bool progressive : {false, true}) {
    const auto small = make_jpeg(16, 16, progressive);
    ASSERT_LT(small.size(), 2000u);
    // 60000^2: PIL's limit; 12000^2 (144 Mpx, under it): 411 MiB of pixels, over the 256 MiB cap;
    // 8000^2 (192 MB): more pixels than a few hundred bytes of Huffman-coded data can encode.
    for (const auto& [side, words] : std::vector<std::pair<int, std::vector<std::string>>>{
             {60000, {"60000x60000", "decompression bomb"}},
             {12000, {"12000x12000", "411 MiB", "256 MiB"}},
             {8000, {"declares a 8000x8000 image in only", "JPEG data that short"}}}) {
      const std::string e = user_error_of([&] { probe_image("big.jpg", jpeg_declaring(small, side, side)); });
      EXPECT_NE(e.find("big.jpg: "), std::string::npos) << e;
      for (const auto& w : words) EXPECT_NE(e.find(w), std::string::npos) << e;
    }
  }
  const auto png = make_png(8, 8);
  EXPECT_NO_THROW(probe_image("ok.png", png_declaring(png, 8, 8)));
  for (const auto& [size, words] : std::vector<std::pair<std::array<uint32_t, 2>, std::vector<std::string>>>{
           {{20000, 20000}, {"20000x20000", "decompression bomb"}},
           {{10000, 10000}, {"10000x10000", "256 MiB"}},
           {{9000, 9000}, {"declares a 9000x9000 image in only", "PNG data that short"}},
           {{2000000, 2}, {"not a decodable PNG"}}}) {  // past libpng's side limit
    const std::string e = user_error_of([&] { probe_image("big.png", png_declaring(png, size[0], size[1])); });
    EXPECT_NE(e.find("big.png: "), std::string::npos) << e;
    for (const auto& w : words) EXPECT_NE(e.find(w), std::string::npos) << e;
  }
  EXPECT_LT(seconds_since(start), 2.0);
}

}  // namespace rt
