// The pure helpers of `ringtrain download` (data/download.h): MD5 against the RFC 1321 test
// vectors, --md5 and URL parsing, and the layout check that guards the final rename.
// The transfer itself is tested end to end by tests/integration/download.sh.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/errors.h"
#include "data/download.h"
#include "test_util.h"

namespace rt {

TEST(Download, Md5MatchesRfc1321TestVectors) {
  // RFC 1321, appendix A.5.
  const std::pair<std::string, std::string> vectors[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (const auto& [text, md5] : vectors) EXPECT_EQ(md5_hex(text), md5) << "MD5(\"" << text << "\")";
}

TEST(Download, Md5OfFileStreamsAcrossChunks) {
  test::TempDir dir;
  // 3 MiB + 1: more than the 1 MiB read buffer, not a multiple of it.
  std::string bytes((3 << 20) + 1, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) & 0xff);
  test::write_bytes(dir / "blob.bin", bytes);
  EXPECT_EQ(md5_hex_of_file(dir / "blob.bin"), md5_hex(bytes));
  test::write_bytes(dir / "empty.bin", "");
  EXPECT_EQ(md5_hex_of_file(dir / "empty.bin"), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_THROW(md5_hex_of_file(dir / "missing.bin"), UserError);
}

TEST(Download, Md5FlagNeedsExactly32HexDigits) {
  EXPECT_TRUE(is_md5_hex(kCifar10Md5));
  EXPECT_TRUE(is_md5_hex("C32A1D4AB5D03F1284B67883E8D87530"));
  EXPECT_FALSE(is_md5_hex("c32a1d4ab5d03f1284b67883e8d8753"));    // 31
  EXPECT_FALSE(is_md5_hex("c32a1d4ab5d03f1284b67883e8d875300"));  // 33
  EXPECT_FALSE(is_md5_hex("g32a1d4ab5d03f1284b67883e8d87530"));
  EXPECT_FALSE(is_md5_hex(""));
}

TEST(Download, ArchiveNameIsTheUrlsLastPathComponent) {
  EXPECT_EQ(archive_name_from_url(kCifar10Url), "cifar-10-binary.tar.gz");
  EXPECT_EQ(archive_name_from_url("http://127.0.0.1:8000/drop/5/c.tar.gz?x=1#y"), "c.tar.gz");
  EXPECT_EQ(archive_name_from_url("file:///home/me/cifar.tgz"), "cifar.tgz");
  EXPECT_EQ(archive_name_from_url("https://mirror.example.org"), "cifar-10-binary.tar.gz");
  EXPECT_EQ(archive_name_from_url("https://mirror.example.org/data/"), "cifar-10-binary.tar.gz");
  EXPECT_EQ(archive_name_from_url("https://mirror.example.org/.."), "cifar-10-binary.tar.gz");
}

TEST(Download, LayoutCheckNamesTheMissingOrTruncatedFile) {
  test::TempDir dir;
  test::write_synthetic_cifar_binary(dir.path(), 2, 3);
  EXPECT_EQ(cifar_layout_problem(dir.path()), "batches.meta.txt is missing");
  test::write_bytes(dir / "batches.meta.txt", "airplane\nautomobile\n");
  EXPECT_EQ(cifar_layout_problem(dir.path()), "");
  std::filesystem::resize_file(dir / "data_batch_3.bin", 3073 + 100);
  EXPECT_NE(cifar_layout_problem(dir.path()).find("data_batch_3.bin has 3173 bytes"), std::string::npos);
  std::filesystem::remove(dir / "test_batch.bin");
  std::filesystem::resize_file(dir / "data_batch_3.bin", 3073);
  EXPECT_EQ(cifar_layout_problem(dir.path()), "test_batch.bin is missing");
  test::write_bytes(dir / "test_batch.bin", "");
  EXPECT_NE(cifar_layout_problem(dir.path()).find("test_batch.bin has 0 bytes"), std::string::npos);
}

}  // namespace rt
