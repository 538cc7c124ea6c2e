// Both readers on good and corrupt inputs; on the real data, the image folder and its
// conversion to the binary layout read back identically.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/files.h"
#include "data/dataset.h"
#include "data/image_index.h"
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

TEST(CifarBinary, ASparseHugeFileIsRefusedBeforeItIsRead) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 4, 4);
  // 30.7 GB of holes, a whole number of records: refused by its size, nothing allocated or read.
  fs::resize_file(dir / "data_batch_2.bin", uintmax_t{3073} * 10000000);
  const auto start = std::chrono::steady_clock::now();
  expect_user_error([&] { load_splits(dir.path()); },
                    {"data_batch_2.bin", "30730000000 bytes", "10000000 records", "more than the 100000"});
  fs::resize_file(dir / "data_batch_2.bin", uintmax_t{3073} * 10000000 + 5);  // and not a whole number
  expect_user_error([&] { load_splits(dir.path()); }, {"data_batch_2.bin", "wrong file size"});
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  fs::resize_file(dir / "data_batch_2.bin", 4 * 3073);
  test::write_bytes(dir / "batches.meta.txt", std::string(2 << 20, '\n'));  // 2 MiB of class names
  expect_user_error([&] { load_splits(dir.path()); }, {"batches.meta.txt", "more than 1048576 bytes"});
}

namespace {

// Sets every folder under `root` an hour back, so that its listing is cached (one changed in
// the last 2 s is not).
void age_folders(const std::string& root) {
  const auto past = fs::file_time_type::clock::now() - std::chrono::hours(1);
  fs::last_write_time(root, past);
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_directory() && !e.is_symlink()) fs::last_write_time(e.path(), past);
  }
}

std::string read_text(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

// Note [Index cache]: any byte of a name round-trips; anything a listing cannot have written is refused.
TEST(ImageIndexCache, RoundTripsAnyNameAndRefusesWhatAListingCannotHaveWritten) {
  IndexCache cache;
  cache.class_names = {"a\tb", "c%d"};
  cache.folders = {{1764750000123456789, "."}, {2, "a\tb"}, {3, "c%d"}, {4, "c%d/sub\nfolder"}};  // ns since 1970
  cache.files = {{0, "a\tb/x\ny.png"}, {1, "c%d/\x7f\x01.JPG"}, {1, "c%d/sub\nfolder/z%0A.jpeg"}};
  const std::string text = index_cache_text(cache);
  EXPECT_NE(text.find("x%0Ay.png"), std::string::npos) << text;
  IndexCache back;
  std::string why;
  ASSERT_TRUE(parse_index_cache(text, back, why)) << why;
  EXPECT_EQ(back.class_names, cache.class_names);
  EXPECT_EQ(back.folders, cache.folders);
  EXPECT_EQ(back.files, cache.files);
  // Each edit of a valid cache that a listing cannot have written is refused, with a reason.
  IndexCache good;
  good.class_names = {"a", "b"};
  good.folders = {{1, "."}, {2, "a"}, {3, "b"}};
  good.files = {{0, "a/0.png"}, {1, "b/0.jpg"}};
  ASSERT_TRUE(parse_index_cache(index_cache_text(good), back, why)) << why;
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"b/0.jpg", "../0.jpg"},        {"b/0.jpg", "/etc/0.jpg"},
      {"b/0.jpg", "b/../b/0.jpg"},    {"b/0.jpg", "b/./0.jpg"},
      {"b/0.jpg", "b//0.jpg"},        {"b/0.jpg", "b/0.txt"},
      {"b/0.jpg", "b/sub/0.jpg"},     {"1\tb/0.jpg", "2\tb/0.jpg"},
      {"1\tb/0.jpg", "0\tb/0.jpg"},   {"files 2", "files 0"},
      {"files 2", "files 99999999"},  {"classes 2\na\nb", "classes 2\nb\na"},
      {"3\tb\n", "3\tb/../..\n"},     {"1\t.\n", "1\t..\n"},
      {"b/0.jpg", "b/0%0.jpg"},       {"b/0.jpg", "b/0\t.jpg"},
      {"2\ta\n", "0\ta\n"},           {"ringtrain-image-index 4", "ringtrain-image-index 3"},
      {"1\tb/0.jpg\n", "1\tb/0.jpg"}, {"1\tb/0.jpg\n", "1\tb/0.jpg\nmore\n"},
      {"0\ta/0.png", "-1\ta/0.png"}};
  for (const auto& [from, to] : edits) {
    std::string bad = index_cache_text(good);
    const size_t at = bad.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    bad.replace(at, from.size(), to);
    EXPECT_FALSE(parse_index_cache(bad, back, why)) << "accepted " << from << " -> " << to << ":\n" << bad;
    EXPECT_FALSE(why.empty());
    EXPECT_TRUE(back.files.empty());
  }
}

TEST(ImageFolder, ACacheListingFilesOutsideTheSplitOrNoneIsIgnoredAndRebuilt) {
  test::TempDir dir;
  make_image_folder(dir.path());
  write_png(dir / "outside.png", pattern_hwc(99), 32);
  age_folders(dir.path());
  EXPECT_EQ(load_splits(dir.path()).train.size(), 4);
  const std::string cache = dir / ".ringtrain-index/train.tsv";
  const std::string honest = read_text(cache);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"1\tb/1.jpg\n", "1\tb/1.jpg\n1\tb/../../outside.png\n"},                       // read from outside --data
           {"files 4\n0\ta/0.png\n0\ta/1.png\n1\tb/0.jpg\n1\tb/1.jpg\n", "files 0\n"}}) {  // no file at all
    std::string crafted = honest;
    crafted.replace(crafted.find(from), from.size(), to);
    if (to.find("outside") != std::string::npos) crafted.replace(crafted.find("files 4"), 7, "files 5");
    test::write_bytes(cache, crafted);
    testing::internal::CaptureStderr();
    const DataSplits s = load_splits(dir.path());
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(s.train.size(), 4) << to;  // the listing's, not the cache's
    EXPECT_NE(err.find("ignoring the file-index cache " + cache), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_EQ(read_text(cache), honest);  // rebuilt
  }
}

TEST(ImageFolder, AFileNameWithANewlineRoundTripsThroughTheCache) {
  test::TempDir dir;
  make_image_folder(dir.path());
  write_png(dir / "train/a/x\ny%.png", pattern_hwc(7), 32);
  age_folders(dir.path());
  const DataSplits listed = load_splits(dir.path());
  ASSERT_EQ(listed.train.size(), 5);
  const std::string text = read_text(dir / ".ringtrain-index/train.tsv");
  EXPECT_NE(text.find("0\ta/x%0Ay%25.png\n"), std::string::npos) << text;
  testing::internal::CaptureStderr();
  const DataSplits cached = load_splits(dir.path());
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");  // the cache was valid
  EXPECT_TRUE(torch::equal(cached.train.images, listed.train.images));
  EXPECT_TRUE(torch::equal(cached.train.labels, listed.train.labels));
}

TEST(ImageFolder, AFifoNamedAsAnImageIsNamedOrLeftOutNeverWaitedOn) {
  test::TempDir dir;
  make_image_folder(dir.path());
  age_folders(dir.path());
  load_splits(dir.path());  // caches the listing
  ASSERT_EQ(::mkfifo((dir / "train/a/1b.png").c_str(), 0600), 0);
  // Listed: the name is refused, or left out with --skip-bad-images.
  expect_user_error([&] { load_splits(dir.path()); }, {"train/a/1b.png", "FIFO"});
  DataRequest skip;
  skip.skip_bad_images = true;
  DataSplits s = load_splits(dir.path(), skip);
  EXPECT_EQ(s.train.size(), 4);
  ASSERT_EQ(s.skipped.size(), 1u);
  EXPECT_NE(s.skipped[0].find("train/a/1b.png"), std::string::npos) << s.skipped[0];
  // Listed by a cache (crafted with the folders' times): opened without blocking, then refused.
  age_folders(dir.path());
  IndexCache cache;
  std::string why;
  ASSERT_TRUE(parse_index_cache(read_text(dir / ".ringtrain-index/train.tsv"), cache, why)) << why;
  for (auto& [mtime, folder] : cache.folders) {
    struct stat st {};
    ASSERT_EQ(::stat((dir / ("train/" + folder)).c_str(), &st), 0);
    mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  }
  cache.files.insert(cache.files.begin() + 2, {0, "a/1b.png"});
  test::write_bytes(dir / ".ringtrain-index/train.tsv", index_cache_text(cache));
  expect_user_error([&] { load_splits(dir.path()); }, {"train/a/1b.png", "FIFO", "not a regular file"});
  s = load_splits(dir.path(), skip);
  EXPECT_EQ(s.train.size(), 4);
  ASSERT_EQ(s.skipped.size(), 1u);
  EXPECT_NE(s.skipped[0].find("FIFO"), std::string::npos) << s.skipped[0];
}

TEST(ImageFolder, AFolderReachedTwiceThroughLinksIsNamed) {
  test::TempDir dir;
  make_image_folder(dir.path());
  fs::create_directory_symlink("..", dir / "train/a/up");  // train/a/up/a/up/... without end
  expect_user_error([&] { load_splits(dir.path()); }, {"train/a/up/a", "reached a second time"});
}

TEST(ImageFolder, SkipBadImagesLeavesOutAndNamesUnreadableImagesOnEveryPath) {
  DataRequest skip;
  skip.skip_bad_images = true;
  {  // 32x32 in memory: the first file (which says the size) and another are corrupt, a link dangles
    test::TempDir dir;
    make_image_folder(dir.path());
    test::write_bytes(dir / "train/a/0.png", "not a png");
    test::write_bytes(dir / "test/b/1.jpg", "\xff\xd8\xff\xe0 not a jpeg");
    fs::create_symlink(dir / "gone.jpg", dir / "train/b/9.jpg");
    expect_user_error([&] { load_splits(dir.path()); }, {"train/b/9.jpg", "symbolic link to nothing"});
    const DataSplits s = load_splits(dir.path(), skip);
    EXPECT_EQ(s.format, "image-folder");
    EXPECT_EQ(s.train.size(), 3);
    EXPECT_EQ(s.test.size(), 3);
    EXPECT_TRUE(torch::equal(s.train.labels, torch::tensor({0, 1, 1}, torch::kInt64)));
    ASSERT_EQ(s.skipped.size(), 3u);
    std::string all;
    for (const auto& why : s.skipped) all += why + "\n";
    for (const char* name : {"train/a/0.png", "test/b/1.jpg", "train/b/9.jpg"})
      EXPECT_NE(all.find(name), std::string::npos) << all;
    // Nothing readable left: one clear line.
    test::write_bytes(dir / "test/a/0.png", "x");
    test::write_bytes(dir / "test/a/1.png", "x");
    test::write_bytes(dir / "test/b/0.jpg", "x");
    expect_user_error([&] { load_splits(dir.path(), skip); }, {"/test: no readable image left"});
  }
  {  // streamed, --normalize computed: a file found unreadable while measured is left out of the
     // statistics, named, and stays in the split (to be left out and counted in each epoch)
    test::TempDir dir;
    for (const char* cls : {"a", "b"}) {
      for (const char* split : {"train", "val"}) {
        fs::create_directories(dir / (std::string(split) + "/" + cls));
        for (int i = 0; i < 3; ++i)
          write_png(dir / (std::string(split) + "/" + cls + "/" + std::to_string(i) + ".png"), pattern_hwc(i, 40), 40);
      }
    }
    test::write_bytes(dir / "train/b/2.png", "\x89PNG\r\n\x1a\n truncated");
    DataRequest r = skip;
    r.image_size = 48;
    r.normalize = "computed";
    testing::internal::CaptureStderr();
    const DataSplits s = load_splits(dir.path(), r);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(s.format, "image-files");
    EXPECT_EQ(s.train.size(), 6);
    EXPECT_TRUE(s.skipped.empty());
    EXPECT_NE(err.find("left out of the statistics (--skip-bad-images): " + (dir / "train/b/2.png")), std::string::npos)
        << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    r.skip_bad_images = false;
    expect_user_error([&] { load_splits(dir.path(), r); }, {"train/b/2.png", "PNG"});
  }
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
