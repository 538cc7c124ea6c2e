// TensorBoard event files: the CRC against its standard check value and a bit-by-bit
// reference, and files read back with a TFRecord parser written here, independently of the
// writer, whose records must parse as tensorflow.Event with the values written.
// Torch-free (see Note [TensorBoard without LibTorch headers] in report/tensorboard.h).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "core/errors.h"
#include "report/tensorboard.h"
#include "report/tensorboard_event.pb.h"

namespace rt {
namespace {

namespace fs = std::filesystem;

// A fresh empty folder under $TMPDIR, removed at destruction.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/ringtrain-tb-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// CRC-32C one bit at a time (reflected polynomial 0x82F63B78): slow, but independent of the
// table-driven Boost.CRC the writer uses.
uint32_t reference_crc32c(const unsigned char* p, size_t size) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) {
    crc ^= p[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

uint32_t reference_masked(const unsigned char* p, size_t size) {
  const uint32_t crc = reference_crc32c(p, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

uint64_t read_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Splits a TFRecord file into its records, checking both CRCs of each and that nothing
// trails the last record.
std::vector<tensorflow::Event> read_events(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<tensorflow::Event> events;
  size_t pos = 0;
  while (pos < bytes.size()) {
    const std::string where = path + " record " + std::to_string(events.size());
    EXPECT_LE(pos + 12, bytes.size()) << where << ": truncated header";
    if (pos + 12 > bytes.size()) break;
    const unsigned char* header = bytes.data() + pos;
    const uint64_t length = read_le(header, 8);
    EXPECT_EQ(read_le(header + 8, 4), reference_masked(header, 8)) << where << ": length CRC";
    EXPECT_LE(pos + 12 + length + 4, bytes.size()) << where << ": truncated data";
    if (pos + 12 + length + 4 > bytes.size()) break;
    const unsigned char* data = header + 12;
    EXPECT_EQ(read_le(data + length, 4), reference_masked(data, length)) << where << ": data CRC";
    tensorflow::Event event;
    EXPECT_TRUE(event.ParseFromArray(data, static_cast<int>(length))) << where;
    events.push_back(event);
    pos += 12 + length + 4;
  }
  return events;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().string());
  return names;
}

TEST(TensorBoard, Crc32cMatchesStandardCheckValueAndBitwiseReference) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(check.data(), check.size()), 0xE3069283u);
  std::vector<unsigned char> bytes;
  for (int size = 0; size <= 300; ++size) {
    const uint32_t expected = reference_crc32c(bytes.data(), bytes.size());
    ASSERT_EQ(crc32c(bytes.data(), bytes.size()), expected) << "size " << size;
    ASSERT_EQ(masked_crc32c(bytes.data(), bytes.size()), reference_masked(bytes.data(), bytes.size()))
        << "size " << size;
    bytes.push_back(static_cast<unsigned char>((size * 131 + 7) & 0xff));
  }
}

TEST(TensorBoard, ScalarsReadBackWithValidFramingTagsValuesAndSteps) {
  ScratchDir dir;
  const std::string logdir = dir / "runs/a";  // parents are created too
  const double before = static_cast<double>(std::time(nullptr)) - 1;
  std::string path;
  {
    TensorBoardWriter writer(logdir);
    path = writer.path();
    for (int64_t step = 0; step < 5; ++step) {
      writer.add_scalar("train/loss", 2.5 / static_cast<double>(step + 1), step * 10);
      writer.add_scalar("train/lr", 0.1, step * 10);
    }
    writer.add_scalar("val/acc1", 91.25, 40);
  }  // the destructor flushes
  const double after = static_cast<double>(std::time(nullptr)) + 1;

  ASSERT_EQ(files_in(logdir), std::vector<std::string>{path});
  const std::string name = fs::path(path).filename().string();
  EXPECT_TRUE(std::regex_match(name, std::regex(R"(events\.out\.tfevents\.\d{10}\..+)"))) << name;

  const std::vector<tensorflow::Event> events = read_events(path);
  ASSERT_EQ(events.size(), 1u + 5 * 2 + 1);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[0].step(), 0);
  for (const auto& event : events) {
    EXPECT_GE(event.wall_time(), before);
    EXPECT_LE(event.wall_time(), after);
  }
  double max_diff = 0;
  for (int64_t step = 0; step < 5; ++step) {
    const auto& loss = events[1 + 2 * step];
    const auto& lr = events[2 + 2 * step];
    ASSERT_TRUE(loss.has_summary());
    ASSERT_EQ(loss.summary().value_size(), 1);
    EXPECT_EQ(loss.summary().value(0).tag(), "train/loss");
    EXPECT_EQ(loss.step(), step * 10);
    const double expected = 2.5 / static_cast<double>(step + 1);
    max_diff = std::max(max_diff, std::abs(loss.summary().value(0).simple_value() - expected));
    EXPECT_EQ(lr.summary().value(0).tag(), "train/lr");
    EXPECT_EQ(lr.summary().value(0).simple_value(), 0.1f);
    EXPECT_EQ(lr.step(), step * 10);
  }
  std::printf("max |float32 value - written double| = %.3g (tolerance 1e-6)\n", max_diff);
  EXPECT_LE(max_diff, 1e-6);  // values are stored as float32
  EXPECT_EQ(events.back().summary().value(0).tag(), "val/acc1");
  EXPECT_EQ(events.back().summary().value(0).simple_value(), 91.25f);
  EXPECT_EQ(events.back().step(), 40);
}

TEST(TensorBoard, FlushMakesPointsVisibleWhileWriting) {
  ScratchDir dir;
  TensorBoardWriter writer(dir / "live");
  writer.add_scalar("train/loss", 1.0, 1);
  writer.flush();
  EXPECT_EQ(read_events(writer.path()).size(), 2u);
  writer.add_scalar("train/loss", 0.5, 2);
  writer.flush();
  EXPECT_EQ(read_events(writer.path()).size(), 3u);
}

TEST(TensorBoard, SecondWriterInSameFolderGetsItsOwnFile) {
  ScratchDir dir;
  TensorBoardWriter first(dir / "run");
  TensorBoardWriter second(dir / "run");
  EXPECT_NE(first.path(), second.path());
  first.add_scalar("a", 1.0, 1);
  second.add_scalar("b", 2.0, 1);
  first.flush();
  second.flush();
  EXPECT_EQ(read_events(first.path()).back().summary().value(0).tag(), "a");
  EXPECT_EQ(read_events(second.path()).back().summary().value(0).tag(), "b");
}

TEST(TensorBoard, UncreatableFolderIsAUserErrorNamingIt) {
  ScratchDir dir;
  std::ofstream(dir / "plain_file") << "x";  // a file where a folder should go (fails as root too)
  const std::string logdir = dir / "plain_file/tb";
  try {
    TensorBoardWriter writer(logdir);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(logdir), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rt
