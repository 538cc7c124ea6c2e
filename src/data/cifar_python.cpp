// Readers for the CIFAR "python version", the copy torchvision's CIFAR10/CIFAR100(download=True)
// leaves on disk: cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta) and
// cifar-100-python/ (train, test, meta). Each file is a pickled dict (written by Python 2's
// cPickle; torchvision reads it with pickle.load(f, encoding="latin1")): "data", a numpy uint8
// array [N, 3072] of channel-planar 32x32 images, as the binary version's records hold them;
// "labels" (CIFAR-10) or "fine_labels" (CIFAR-100), N integers. The meta files name the classes
// ("label_names", "fine_label_names"). The pickles are read by the restricted unpickler's numpy
// vocabulary: nothing in a file is called, and anything but those dicts, lists, numbers, strings
// and number arrays is refused with one line naming the file.
#include <fmt/ranges.h>

#include <cstring>

#include "core/errors.h"
#include "core/files.h"
#include "core/restricted_unpickler.h"
#include "data/data_file.h"
#include "data/dataset.h"

namespace rt {

namespace {

constexpr int64_t kPixelBytes = 3 * 32 * 32;
// The official files' largest is CIFAR-100's train, 50,000 images (155 MB): ten times that is
// not a CIFAR file.
constexpr int64_t kMaxBatchBytes = int64_t{1600} << 20;
constexpr int64_t kMaxMetaBytes = int64_t{1} << 20;

using Kind = PickleValue::Kind;

Pickle read_pickle(const std::string& path, int64_t max_bytes, const char* what) {
  const auto bytes = read_data_file(path, max_bytes, what);
  return unpickle_restricted(std::string(bytes.begin(), bytes.end()), path, PickleVocabulary::kNumpyArrays);
}

const char* kind_name(const PickleValue* v) {
  switch (v->kind) {
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kArray:
      return "array";
    case Kind::kDict:
      return "dict";
    case Kind::kString:
    case Kind::kBytes:
      return "string";
    default:
      return "number or None";
  }
}

// The labels of a batch: a list of integers (as the official files hold them) or a 1-D integer
// array, each in [0, num_classes).
std::vector<int64_t> read_labels(const std::string& path, const char* key, const PickleValue* v, int64_t num_classes) {
  std::vector<int64_t> labels;
  if (v->kind == Kind::kList || v->kind == Kind::kTuple) {
    for (const auto* item : v->items) {
      RT_CHECK_USER(item->kind == Kind::kInt, "{}: \"{}\" holds a {}, expected integer class indices", path, key,
                    kind_name(item));
      labels.push_back(item->integer);
    }
  } else {
    RT_CHECK_USER(v->kind == Kind::kArray, "{}: \"{}\" is a {}, expected a list of class indices", path, key,
                  kind_name(v));
    const PickleArray& a = v->array;
    RT_CHECK_USER(a.shape.size() == 1 && (a.dtype[0] == 'i' || a.dtype[0] == 'u') && a.byte_order != '>',
                  "{}: \"{}\" is an array of dtype {}{} and {} dimensions, expected one dimension of integers", path,
                  key, a.byte_order, a.dtype, a.shape.size());
    const auto* p = reinterpret_cast<const unsigned char*>(a.data->text.data());
    const int64_t size = a.item_size();
    for (int64_t i = 0; i < a.shape[0]; ++i) {
      uint64_t u = 0;
      for (int64_t b = size - 1; b >= 0; --b) u = (u << 8) | p[i * size + b];
      int64_t value = static_cast<int64_t>(u);
      if (a.dtype[0] == 'i' && size < 8 && (u >> (8 * size - 1)) & 1) value -= int64_t{1} << (8 * size);
      labels.push_back(value);
    }
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    RT_CHECK_USER(labels[i] >= 0 && labels[i] < num_classes,
                  "{}: image {} has label {}, expected 0..{}; the file is corrupt: download it again", path, i,
                  labels[i], num_classes - 1);
  }
  return labels;
}

// Appends one batch file's images and labels (`label_key`: "labels" or "fine_labels").
void read_batch(const std::string& path, const char* label_key, int64_t num_classes, std::vector<uint8_t>& pixels,
                std::vector<int64_t>& labels) {
  const Pickle pickle = read_pickle(path, kMaxBatchBytes, "a CIFAR python batch");
  const PickleValue* root = pickle.root;
  RT_CHECK_USER(root->kind == Kind::kDict,
                "{}: holds a {}, not a CIFAR batch (a dict of \"data\" and \"{}\"); download it again", path,
                kind_name(root), label_key);
  const PickleValue* data = pickle_dict_get(*root, "data");
  const PickleValue* label_list = pickle_dict_get(*root, label_key);
  RT_CHECK_USER(data != nullptr && label_list != nullptr,
                "{}: a dict without \"{}\", not a CIFAR batch (a dict of \"data\" and \"{}\"); download it again", path,
                data == nullptr ? "data" : label_key, label_key);
  RT_CHECK_USER(data->kind == Kind::kArray, "{}: \"data\" is a {}, expected a numpy uint8 array", path,
                kind_name(data));
  const PickleArray& a = data->array;
  RT_CHECK_USER(a.dtype == "u1" && a.shape.size() == 2 && a.shape[1] == kPixelBytes && !a.fortran,
                "{}: \"data\" is an array of dtype {} and shape ({}){}, expected uint8 images of shape (N, 3072) "
                "(32x32x3, channel-planar)",
                path, a.dtype, fmt::join(a.shape, ", "), a.fortran ? " in Fortran order" : "");
  const auto batch_labels = read_labels(path, label_key, label_list, num_classes);
  RT_CHECK_USER(static_cast<int64_t>(batch_labels.size()) == a.shape[0],
                "{}: {} images but {} labels; the file is corrupt: download it again", path, a.shape[0],
                batch_labels.size());
  pixels.insert(pixels.end(), a.data->text.begin(), a.data->text.end());
  labels.insert(labels.end(), batch_labels.begin(), batch_labels.end());
}

Dataset read_split(const std::vector<std::string>& paths, const char* label_key,
                   const std::vector<std::string>& names) {
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const auto& p : paths) read_batch(p, label_key, static_cast<int64_t>(names.size()), pixels, labels);
  Dataset d;
  const auto n = static_cast<int64_t>(labels.size());
  d.images = torch::from_blob(pixels.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
  d.labels = torch::tensor(labels, torch::kInt64);
  d.class_names = names;
  return d;
}

// The class names a meta file's `key` lists, when the file is there; else `fallback`.
std::vector<std::string> read_meta(const std::string& path, const char* key, size_t expect,
                                   const std::vector<std::string>& fallback) {
  if (!file_exists(path)) return fallback;
  const Pickle pickle = read_pickle(path, kMaxMetaBytes, "a CIFAR class-name list");
  const PickleValue* list = pickle_dict_get(*pickle.root, key);
  RT_CHECK_USER(list != nullptr && list->kind == Kind::kList,
                "{}: expected a dict with \"{}\", a list of the class names; download it again", path, key);
  std::vector<std::string> names;
  for (const auto* item : list->items) {
    RT_CHECK_USER(item->kind == Kind::kString || item->kind == Kind::kBytes,
                  "{}: \"{}\" holds a {}, expected class names", path, key, kind_name(item));
    names.push_back(item->text);
  }
  RT_CHECK_USER(names.size() == expect, "{}: \"{}\" names {} classes, expected {}", path, key, names.size(), expect);
  return names;
}

}  // namespace

DataSplits read_cifar10_python(const std::string& dir) {
  std::vector<std::string> train_paths;
  std::string missing;
  for (int i = 1; i <= 5; ++i) {
    train_paths.push_back(dir + "/data_batch_" + std::to_string(i));
    if (!file_exists(train_paths.back())) missing += " data_batch_" + std::to_string(i);
  }
  if (!file_exists(dir + "/test_batch")) missing += " test_batch";
  RT_CHECK_USER(missing.empty(),
                "{}: CIFAR-10 python batches missing:{}; unpack cifar-10-python.tar.gz completely (or run "
                "torchvision.datasets.CIFAR10(root, download=True) again)",
                dir, missing);
  const auto names = read_meta(dir + "/batches.meta", "label_names", 10, cifar10_class_names());
  DataSplits s;
  s.train = read_split(train_paths, "labels", names);
  s.test = read_split({dir + "/test_batch"}, "labels", names);
  s.format = "cifar10-python";
  s.root = dir;
  return s;
}

DataSplits read_cifar100_python(const std::string& dir) {
  std::string missing;
  for (const char* f : {"train", "test"}) {
    if (!file_exists(dir + "/" + f)) missing += std::string(" ") + f;
  }
  RT_CHECK_USER(missing.empty(),
                "{}: CIFAR-100 python files missing:{}; unpack cifar-100-python.tar.gz completely (or run "
                "torchvision.datasets.CIFAR100(root, download=True) again)",
                dir, missing);
  std::vector<std::string> numbered;  // without meta: "class_00" ... "class_99"
  for (int c = 0; c < 100; ++c) numbered.push_back(fmt::format("class_{:02d}", c));
  const auto names = read_meta(dir + "/meta", "fine_label_names", 100, numbered);
  DataSplits s;
  s.train = read_split({dir + "/train"}, "fine_labels", names);
  s.test = read_split({dir + "/test"}, "fine_labels", names);
  s.format = "cifar100-python";
  s.root = dir;
  return s;
}

}  // namespace rt
