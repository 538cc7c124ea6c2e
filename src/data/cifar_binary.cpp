// Readers for the original CIFAR binary layouts: each file is a sequence of records, label
// bytes followed by 3x1024 channel-planar pixels (R, G, B planes). CIFAR-10: one label byte
// (0..9), 3073-byte records; CIFAR-100: a coarse (0..19) then a fine label byte (0..99, the one
// used), 3074-byte records.
#include <cstring>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "data/data_file.h"
#include "data/dataset.h"

namespace rt {

namespace {

constexpr int64_t kPixelBytes = 3 * 32 * 32;

// A binary layout: label bytes per record (the last one is the label used), and its name.
struct Layout {
  int64_t label_bytes;
  const char* name;
  const char* example;  // a whole file's size, for the error message
  int64_t max_records;  // per file: 10x the official files' largest (a sparse or foreign file is refused)
};
constexpr Layout kCifar10{1, "CIFAR-10", "CIFAR-10 batches hold 10000 records, 30730000 bytes", 100000};
constexpr Layout kCifar100{2, "CIFAR-100", "CIFAR-100's train.bin holds 50000 records, 153700000 bytes", 500000};

// Appends the records of one batch file to images/labels. Its size is checked before anything
// is read or allocated.
void read_batch_file(const std::string& path, const Layout& layout, int64_t num_classes, std::vector<uint8_t>& pixels,
                     std::vector<int64_t>& labels) {
  const int64_t record_bytes = layout.label_bytes + kPixelBytes;
  const int64_t size = data_file_size(path);
  RT_CHECK_USER(size > 0 && size % record_bytes == 0,
                "{}: wrong file size {} bytes, expected a non-zero multiple of {}-byte records "
                "({}); the file is truncated or not a {} binary batch: download it again",
                path, size, record_bytes, layout.example, layout.name);
  RT_CHECK_USER(size <= layout.max_records * record_bytes,
                "{}: {} bytes, {} records, more than the {} ({} bytes) read from one {} binary file, ten times the "
                "official files' ({}); the file is not a {} batch (or a sparse or damaged one): download it again",
                path, size, size / record_bytes, layout.max_records, layout.max_records * record_bytes, layout.name,
                layout.example, layout.name);
  const std::vector<unsigned char> bytes = read_data_file(path, size, "this binary batch");
  RT_CHECK_USER(static_cast<int64_t>(bytes.size()) == size, "{}: changed size while read ({} then {} bytes); run again",
                path, size, bytes.size());
  const int64_t records = size / record_bytes;
  const size_t old_pixels = pixels.size();
  pixels.resize(old_pixels + static_cast<size_t>(records * kPixelBytes));
  for (int64_t r = 0; r < records; ++r) {
    const unsigned char* rec = bytes.data() + r * record_bytes;
    const int label = rec[layout.label_bytes - 1];
    RT_CHECK_USER(label < num_classes,
                  "{}: record {} has label {}, expected 0..{}; the file is corrupt: download it "
                  "again",
                  path, r, label, num_classes - 1);
    labels.push_back(label);
    std::memcpy(pixels.data() + old_pixels + r * kPixelBytes, rec + layout.label_bytes, kPixelBytes);
  }
}

Dataset read_split(const std::vector<std::string>& paths, const Layout& layout, const std::vector<std::string>& names) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const auto& p : paths) read_batch_file(p, layout, static_cast<int64_t>(names.size()), pixels, labels);
  Dataset d;
  const auto n = static_cast<int64_t>(labels.size());
  d.images = torch::from_blob(pixels.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
  d.labels = torch::tensor(labels, torch::kInt64);
  d.class_names = names;
  return d;
}

// Class names from a meta file (one per line, blank lines ignored) when present, else `fallback`.
// The official ones hold a few hundred bytes: one over 1 MiB is not one.
std::vector<std::string> read_class_names(const std::string& meta, const std::vector<std::string>& fallback) {
  if (!file_exists(meta)) return fallback;
  const auto bytes = read_data_file(meta, int64_t{1} << 20, "a class-name list");
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
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
  const auto names = read_class_names(dir + "/batches.meta.txt", cifar10_class_names());
  DataSplits s;
  s.train = read_split(train_paths, kCifar10, names);
  s.test = read_split({test_path}, kCifar10, names);
  s.format = "cifar10-binary";
  s.root = dir;
  return s;
}

DataSplits read_cifar100_binary(const std::string& dir) {
  std::string missing;
  for (const char* f : {"train.bin", "test.bin"}) {
    if (!file_exists(dir + "/" + f)) missing += std::string(" ") + f;
  }
  RT_CHECK_USER(missing.empty(),
                "{}: CIFAR-100 binary split files missing:{}; unpack cifar-100-binary.tar.gz completely", dir, missing);
  std::vector<std::string> numbered;  // without fine_label_names.txt: "class_00" ... "class_99"
  for (int c = 0; c < 100; ++c) numbered.push_back(fmt::format("class_{:02d}", c));
  const auto names = read_class_names(dir + "/fine_label_names.txt", numbered);
  RT_CHECK_USER(names.size() == 100, "{}/fine_label_names.txt: expected 100 class names, found {}", dir, names.size());
  DataSplits s;
  s.train = read_split({dir + "/train.bin"}, kCifar100, names);
  s.test = read_split({dir + "/test.bin"}, kCifar100, names);
  s.format = "cifar100-binary";
  s.root = dir;
  return s;
}

}  // namespace rt
