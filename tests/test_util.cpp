#include "test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "report/writers.h"

namespace rt::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/ringtrain-test-XXXXXX";
  path_ = ::mkdtemp(tmpl.data());
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

nlohmann::json read_reference(const std::string& name) {
  return read_json_file(std::string(RT_REFERENCE_DIR) + "/" + name);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_synthetic_cifar_binary(const std::string& dir, int64_t per_batch, int64_t test_records, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto write_file = [&](const std::string& name, int64_t records) {
    std::string bytes;
    for (int64_t r = 0; r < records; ++r) {
      bytes.push_back(static_cast<char>(r % 10));
      for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<char>(rng() & 0xff));
    }
    write_bytes(dir + "/" + name, bytes);
  };
  for (int i = 1; i <= 5; ++i) write_file("data_batch_" + std::to_string(i) + ".bin", per_batch);
  write_file("test_batch.bin", test_records);
}

}  // namespace rt::test
