// Both readers on good and corrupt inputs; on the real data, the image folder and its
// conversion to the binary layout read back identically.
#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/files.h"
#include "data/dataset.h"
#include "test_util.h"

namespace rt {

namespace fs = std::filesystem;

namespace {

// Expects `f` to throw a UserError whose message contains every one of `parts`.
template <typename F>
void expect_user_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

// A 32x32 test pattern: pixel (c, y, x) = (c * 80 + y * 5 + x * 3 + salt) mod 256.
std::vector<uint8_t> pattern_hwc(int salt, int side = 32) {
  std::vector<uint8_t> rgb(static_cast<size_t>(side * side * 3));
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 3; ++c)
        rgb[(y * side + x) * 3 + c] = static_cast<uint8_t>((c * 80 + y * 5 + x * 3 + salt) % 256);
  return rgb;
}

void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int side, bool grey = false) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = img.height = static_cast<png_uint_32>(side);
  img.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  std::vector<uint8_t> grey_px;
  if (grey) {
    for (size_t i = 0; i < rgb.size(); i += 3) grey_px.push_back(rgb[i]);
  }
  ASSERT_TRUE(png_image_write_to_file(&img, path.c_str(), 0, grey ? grey_px.data() : rgb.data(), 0, nullptr));
}

void write_jpeg(const std::string& path, const std::vector<uint8_t>& rgb) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  ASSERT_EQ(tjCompress2(tj, rgb.data(), 32, 0, 32, TJPF_RGB, &buf, &size, TJSAMP_444, 100, 0), 0);
  test::write_bytes(path, std::string(reinterpret_cast<char*>(buf), size));
  tjFree(buf);
  tjDestroy(tj);
}

// train/ and test/ with classes "a" (PNGs) and "b" (JPEGs), two images each.
void make_image_folder(const std::string& root) {
  for (const char* split : {"train", "test"}) {
    fs::create_directories(root + "/" + split + "/a");
    fs::create_directories(root + "/" + split + "/b");
    for (int i = 0; i < 2; ++i) {
      write_png(root + "/" + split + "/a/" + std::to_string(i) + ".png", pattern_hwc(i), 32);
      write_jpeg(root + "/" + split + "/b/" + std::to_string(i) + ".jpg", pattern_hwc(10 + i));
    }
  }
}

}  // namespace

TEST(CifarBinary, ReadsRecordsLabelsAndPixels) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 20, 10);
  const DataSplits s = load_splits(dir.path());
  EXPECT_EQ(s.format, "cifar10-binary");
  ASSERT_EQ(s.train.size(), 100);
  ASSERT_EQ(s.test.size(), 10);
  EXPECT_EQ(s.train.images.sizes(), (std::vector<int64_t>{100, 3, 32, 32}));
  EXPECT_EQ(s.train.class_names, cifar10_class_names());
  // Record r of data_batch_2 is sample 20 + r: label r % 10, pixels the 3072 bytes after it.
  const auto bytes = read_file_bytes(dir / "data_batch_2.bin");
  const int64_t r = 7;
  EXPECT_EQ(s.train.labels[20 + r].item<int64_t>(), r % 10);
  const auto px = s.train.images[20 + r].flatten();
  for (int i = 0; i < 3072; i += 97) EXPECT_EQ(px[i].item<int>(), bytes[r * 3073 + 1 + i]) << i;
}

TEST(CifarBinary, FindsTheOfficialSubfolderAndClassNames) {
  test::TempDir dir;
  fs::create_directories(dir / "cifar-10-batches-bin");
  test::write_synthetic_cifar_binary(dir / "cifar-10-batches-bin", 3, 3);
  test::write_bytes(dir / "cifar-10-batches-bin/batches.meta.txt", "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n\n");
  const DataSplits s = load_splits(dir.path());
  EXPECT_EQ(s.train.size(), 15);
  EXPECT_EQ(s.train.class_names.at(9), "c9");
}

TEST(CifarBinary, TruncatedFileNamesFileAndSize) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 4, 4);
  fs::resize_file(dir / "data_batch_3.bin", 3 * 3073 + 100);
  expect_user_error([&] { load_splits(dir.path()); }, {"data_batch_3.bin", "wrong file size", "9319"});
}

TEST(CifarBinary, LabelOutOfRangeNamesRecord) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 4, 4);
  {
    std::fstream f(dir / "test_batch.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2 * 3073);
    f.put(static_cast<char>(10));
  }
  expect_user_error([&] { load_splits(dir.path()); }, {"test_batch.bin", "record 2", "label 10"});
}

TEST(CifarBinary, MissingSplitIsNamed) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 4, 4);
  fs::remove(dir / "test_batch.bin");
  fs::remove(dir / "data_batch_5.bin");
  expect_user_error([&] { load_splits(dir.path()); }, {"data_batch_5.bin", "test_batch.bin", "missing"});
}

// CIFAR-100's layout: a coarse then a fine label byte per record; the fine one is the label.
TEST(Cifar100Binary, ReadsTheFineLabelAndComputesItsStatistics) {
  test::TempDir dir;
  fs::create_directories(dir / "cifar-100-binary");
  auto records = [](int n, int salt) {
    std::string bytes;
    for (int r = 0; r < n; ++r) {
      bytes += static_cast<char>(r % 20);         // coarse
      bytes += static_cast<char>((r * 7) % 100);  // fine
      for (int i = 0; i < 3072; ++i) bytes += static_cast<char>((i * 31 + r * 17 + salt) % 256);
    }
    return bytes;
  };
  test::write_bytes(dir / "cifar-100-binary/train.bin", records(120, 0));
  test::write_bytes(dir / "cifar-100-binary/test.bin", records(30, 5));
  const DataSplits s = load_splits(dir.path());
  EXPECT_EQ(s.format, "cifar100-binary");
  ASSERT_EQ(s.train.size(), 120);
  ASSERT_EQ(s.test.size(), 30);
  ASSERT_EQ(s.train.num_classes(), 100);
  EXPECT_EQ(s.train.class_names[7], "class_07");  // no fine_label_names.txt
  EXPECT_EQ(s.train.labels[3].item<int64_t>(), 21);
  EXPECT_EQ(s.train.images[3][0][0][1].item<int>(), (31 + 3 * 17) % 256);
  // --normalize auto on CIFAR-100: its own statistics, over every training pixel.
  const auto x = s.train.images.to(torch::kFloat64) / 255.0;
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(s.train.norm.mean[c], x.select(1, c).mean().item<double>(), 1e-6);
    EXPECT_NEAR(s.train.norm.std[c], x.select(1, c).std(/*unbiased=*/false).item<double>(), 1e-6);
  }
  EXPECT_EQ(s.test.norm.mean, s.train.norm.mean);
  // A label past 99, and a file cut short, are named.
  auto bad = records(2, 0);
  bad[3074 + 1] = static_cast<char>(100);
  test::write_bytes(dir / "cifar-100-binary/test.bin", bad);
  expect_user_error([&] { load_splits(dir.path()); }, {"test.bin", "record 1", "label 100"});
  test::write_bytes(dir / "cifar-100-binary/test.bin", records(2, 0).substr(0, 5000));
  expect_user_error([&] { load_splits(dir.path()); }, {"test.bin", "3074-byte records", "CIFAR-100"});
}

TEST(Normalization, FlagsOverrideAndAreChecked) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 4, 4);
  DataRequest r;
  EXPECT_EQ(load_splits(dir.path(), r).train.norm.mean, Normalization{}.mean);  // CIFAR-10's
  r.normalize = "imagenet";
  EXPECT_EQ(load_splits(dir.path(), r).train.norm.std, imagenet_normalization().std);
  r.mean = "0.5,0.25,0";
  EXPECT_EQ(load_splits(dir.path(), r).train.norm.mean, (std::array<float, 3>{0.5f, 0.25f, 0.0f}));
  r.std = "1,0,1";
  expect_user_error([&] { load_splits(dir.path(), r); }, {"--std 1,0,1", "positive"});
  r.std = "1,2";
  expect_user_error([&] { load_splits(dir.path(), r); }, {"--std 1,2", "three"});
  r = DataRequest{};
  r.image_size = 64;
  expect_user_error([&] { load_splits(dir.path(), r); }, {"--image-size 64", "32x32"});
}

TEST(ImageFolder, DecodesPngExactlyAndJpegClosely) {
  test::TempDir dir;
  make_image_folder(dir.path());
  const DataSplits s = load_splits(dir.path());
  EXPECT_EQ(s.format, "image-folder");
  EXPECT_EQ(s.train.class_names, (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(s.train.size(), 4);
  EXPECT_TRUE(torch::equal(s.train.labels, torch::tensor({0, 0, 1, 1}, torch::kInt64)));
  auto expected = [](int salt) {
    auto hwc = pattern_hwc(salt);
    return torch::from_blob(hwc.data(), {32, 32, 3}, torch::kUInt8).permute({2, 0, 1}).clone();
  };
  EXPECT_TRUE(torch::equal(s.train.images[1], expected(1)));  // PNG is lossless
  const auto diff = (s.train.images[3].to(torch::kInt) - expected(11).to(torch::kInt)).abs().max().item<int>();
  EXPECT_LE(diff, 3) << "JPEG quality 100, 4:4:4";
}

TEST(ImageFolder, CorruptImageIsNamed) {
  test::TempDir dir;
  make_image_folder(dir.path());
  test::write_bytes(dir / "train/b/1.jpg", "\xff\xd8\xff\xe0 this is not a jpeg");
  expect_user_error([&] { load_splits(dir.path()); }, {"train/b/1.jpg", "JPEG"});
}

TEST(ImageFolder, WrongSizeImageIsNamed) {
  test::TempDir dir;
  make_image_folder(dir.path());
  write_png(dir / "test/a/0.png", pattern_hwc(0, 40), 40);
  expect_user_error([&] { load_splits(dir.path()); }, {"test/a/0.png", "40x40", "32x32"});
}

TEST(ImageFolder, GreyscaleImageBecomesRgbAsInTorchvision) {
  test::TempDir dir;
  make_image_folder(dir.path());
  write_png(dir / "train/a/1.png", pattern_hwc(1), 32, /*grey=*/true);
  const DataSplits s = load_splits(dir.path());
  const auto img = s.train.images[1];  // train/a/1.png: PIL's convert("RGB") repeats the grey level
  EXPECT_TRUE(torch::equal(img[0], img[1]));
  EXPECT_TRUE(torch::equal(img[0], img[2]));
}

TEST(ImageFolder, ADanglingLinkNamedAsAnImageIsNamedNotSkipped) {
  test::TempDir dir;
  make_image_folder(dir.path());
  fs::create_symlink(dir / "gone.jpg", dir / "train/a/9.jpg");
  expect_user_error([&] { load_splits(dir.path()); }, {"train/a/9.jpg", "symbolic link to nothing"});
  fs::remove(dir / "train/a/9.jpg");
  // A folder is a folder whatever its name (torchvision's os.walk descends into it): its images
  // belong to the class, ordered after the class folder's own (by folder, then name).
  fs::create_directories(dir / "train/a/9.png/deeper");
  fs::copy_file(dir / "train/a/0.png", dir / "train/a/9.png/deeper/x.png");
  const DataSplits nested = load_splits(dir.path(), DataRequest{0, "auto", "", "", 0, true});
  EXPECT_EQ(nested.train.size(), 5);
  EXPECT_TRUE(torch::equal(nested.train.images[2], nested.train.images[0]));  // a/9.png/deeper/x.png, a copy of a/0.png
  fs::remove_all(dir / "train/a/9.png");
  std::ofstream(dir / "train/a/notes.txt") << "not an image";  // other names are not images: skipped
  EXPECT_NO_THROW(load_splits(dir.path()));
}

TEST(ImageFolder, MissingSplitAndNoDataAreNamed) {
  test::TempDir dir;
  make_image_folder(dir.path());
  fs::remove_all(dir / "test");
  expect_user_error([&] { load_splits(dir.path()); }, {"'test'", "missing"});
  test::TempDir empty;
  expect_user_error([&] { load_splits(empty.path()); }, {"found neither"});
  expect_user_error([&] { load_splits(empty / "nope"); }, {"no such folder"});
}

TEST(Subset, ClassBalancedAndDeterministic) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 100, 10);  // 50 per class
  const Dataset train = load_splits(dir.path()).train;
  const Dataset a = balanced_subset(train, 95, 3), b = balanced_subset(train, 95, 3);
  ASSERT_EQ(a.size(), 95);
  EXPECT_TRUE(torch::equal(a.labels, b.labels) && torch::equal(a.images, b.images));
  const auto counts = a.labels.bincount({}, 10);
  for (int c = 0; c < 10; ++c) EXPECT_EQ(counts[c].item<int64_t>(), c < 5 ? 10 : 9) << c;
  EXPECT_EQ(balanced_subset(train, 0, 3).size(), 500);
}

// Needs the unpacked real data (CTest fixture real_data).
TEST(RealData, ImageFolderAndItsBinaryConversionAgree) {
  const std::string root = RT_REAL_DATA_DIR;
  if (!dir_exists(root + "/train")) GTEST_SKIP() << root << " not unpacked (ctest runs real_data_unpack)";
  const DataSplits jpeg = load_splits(root);
  ASSERT_EQ(jpeg.train.size(), 50000);
  ASSERT_EQ(jpeg.test.size(), 10000);
  EXPECT_EQ(jpeg.train.class_names, cifar10_class_names());
  for (int c = 0; c < 10; ++c) EXPECT_EQ(jpeg.train.labels.eq(c).sum().item<int64_t>(), 5000);
  // Write the binary layout: 5 batches of 10000 records + test_batch.
  test::TempDir bin;
  auto write_records = [](const std::string& path, const Dataset& d, int64_t begin, int64_t end) {
    std::string bytes;
    for (int64_t i = begin; i < end; ++i) {
      bytes.push_back(static_cast<char>(d.labels[i].item<int64_t>()));
      const auto px = d.images[i].contiguous();
      bytes.append(reinterpret_cast<const char*>(px.data_ptr<uint8_t>()), 3072);
    }
    test::write_bytes(path, bytes);
  };
  for (int b = 0; b < 5; ++b) {
    write_records(bin / ("data_batch_" + std::to_string(b + 1) + ".bin"), jpeg.train, b * 10000, (b + 1) * 10000);
  }
  write_records(bin / "test_batch.bin", jpeg.test, 0, 10000);
  EXPECT_EQ(fs::file_size(bin / "data_batch_1.bin"), 30730000u);
  const DataSplits binary = load_splits(bin.path());
  EXPECT_TRUE(torch::equal(binary.train.images, jpeg.train.images));
  EXPECT_TRUE(torch::equal(binary.train.labels, jpeg.train.labels));
  EXPECT_TRUE(torch::equal(binary.test.images, jpeg.test.images));
  // Real photographs: the channel means are close to the CIFAR-10 normalisation constants.
  const auto mean = jpeg.train.images.to(torch::kFloat).mean({0, 2, 3}) / 255;
  EXPECT_NEAR(mean[0].item<float>(), 0.4914f, 0.01f);
  EXPECT_NEAR(mean[2].item<float>(), 0.4465f, 0.01f);
}

}  // namespace rt
