// Helpers shared by the tests: temporary folders, fixtures, synthetic CIFAR-10 files.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

namespace rt::test {

// A fresh empty folder under $TMPDIR, removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

nlohmann::json read_reference(const std::string& name);  // tests/reference/<name>

// Writes a CIFAR-10 binary layout (data_batch_1..5.bin, test_batch.bin) with
// `per_batch` random records per file (labels cycle 0..9) into `dir`.
void write_synthetic_cifar_binary(const std::string& dir, int64_t per_batch, int64_t test_records, uint64_t seed = 1);

// Writes raw bytes to a file.
void write_bytes(const std::string& path, const std::string& bytes);

}  // namespace rt::test
