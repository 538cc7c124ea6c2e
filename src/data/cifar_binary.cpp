// Reader for the original CIFAR-10 binary layout: each file is a sequence of 3073-byte
// records, one label byte (0..9) followed by 3x1024 channel-planar pixels (R, G, B planes).
#include <cstring>
#include <fstream>

#include "core/errors.h"
#include "core/files.h"
#include "data/dataset.h"

namespace rt {

namespace {

constexpr int64_t kRecordBytes = 1 + 3 * 32 * 32;

// Appends the records of one batch file to images/labels.
void read_batch_file(const std::string& path, int64_t num_classes, std::vector<uint8_t>& pixels,
                     std::vector<int64_t>& labels) {
  const std::vector<unsigned char> bytes = read_file_bytes(path);
  const auto size = static_cast<int64_t>(bytes.size());
  RT_CHECK_USER(size > 0 && size % kRecordBytes == 0,
                "{}: wrong file size {} bytes, expected a non-zero multiple of {}-byte records "
                "(CIFAR-10 batches hold 10000 records, 30730000 bytes); the file is truncated or "
                "not a CIFAR-10 binary batch: download it again",
                path, size, kRecordBytes);
  const int64_t records = size / kRecordBytes;
  const size_t old_pixels = pixels.size();
  pixels.resize(old_pixels + static_cast<size_t>(records * (kRecordBytes - 1)));
  for (int64_t r = 0; r < records; ++r) {
    const unsigned char* rec = bytes.data() + r * kRecordBytes;
    RT_CHECK_USER(rec[0] < num_classes,
                  "{}: record {} has label {}, expected 0..{}; the file is corrupt: download it "
                  "again",
                  path, r, static_cast<int>(rec[0]), num_classes - 1);
    labels.push_back(rec[0]);
    std::memcpy(pixels.data() + old_pixels + r * (kRecordBytes - 1), rec + 1, kRecordBytes - 1);
  }
}

Dataset read_split(const std::vector<std::string>& paths, const std::vector<std::string>& names) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const auto& p : paths) read_batch_file(p, static_cast<int64_t>(names.size()), pixels, labels);
  Dataset d;
  const auto n = static_cast<int64_t>(labels.size());
  d.images = torch::from_blob(pixels.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
  d.labels = torch::tensor(labels, torch::kInt64);
  d.class_names = names;
  return d;
}

// Class names from batches.meta.txt (one per line, blank lines ignored) when present.
std::vector<std::string> read_class_names(const std::string& dir) {
  const std::string meta = dir + "/batches.meta.txt";
  if (!file_exists(meta)) return cifar10_class_names();
  std::ifstream in(meta);
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  RT_CHECK_USER(names.size() >= 2 && names.size() <= 256,
                "{}: expected one class name per line (2..256 classes), found {}", meta, names.size());
  return names;
}

}  // namespace

DataSplits read_cifar10_binary(const std::string& dir) {
  std::vector<std::string> train_paths;
  std::string missing;
  for (int i = 1; i <= 5; ++i) {
    train_paths.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
    if (!file_exists(train_paths.back())) missing += " data_batch_" + std::to_string(i) + ".bin";
  }
  const std::string test_path = dir + "/test_batch.bin";
  if (!file_exists(test_path)) missing += " test_batch.bin";
  RT_CHECK_USER(missing.empty(),
                "{}: CIFAR-10 binary split files missing:{}; unpack cifar-10-binary.tar.gz "
                "completely (or run `ringtrain download`)",
                dir, missing);
  const auto names = read_class_names(dir);
  DataSplits s;
  s.train = read_split(train_paths, names);
  s.test = read_split({test_path}, names);
  s.format = "cifar10-binary";
  s.root = dir;
  return s;
}

}  // namespace rt
