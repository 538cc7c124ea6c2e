#include <gtest/gtest.h>

#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "test_util.h"

namespace rt {

TEST(Files, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  test::TempDir dir;
  write_file_atomic(dir / "a.txt", std::string("first version"));
  write_file_atomic(dir / "a.txt", std::string("second"));
  const auto bytes = read_file_bytes(dir / "a.txt");
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Files, WriteIntoMissingFolderIsAUserErrorAndKeepsNothing) {
  test::TempDir dir;
  EXPECT_THROW(write_file_atomic(dir / "no/such/a.txt", std::string("x")), UserError);
  EXPECT_THROW(read_file_bytes(dir / "missing.bin"), UserError);
}

}  // namespace rt
