// The pure helpers of `ringtrain download` (data/download.h): MD5 against the RFC 1321 test
// vectors, --md5 and URL parsing, the layout check that guards the final rename, and what
// unpacking refuses (Note [What an archive may hold]), on archives written here by Python's
// tarfile and zipfile. The transfer itself is tested end to end by tests/integration/download.sh.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
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

namespace {

// Runs Python's `script` with `args` (python3: tarfile and zipfile are in its standard library).
void run_python(const test::TempDir& dir, const std::string& script, const std::string& args) {
  test::write_bytes(dir / "make.py", script);
  const std::string command = "python3 " + dir / "make.py" + " " + args;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
}

// A CIFAR-10 layout in dir/src/cifar-10-batches-bin (2 records per batch).
void write_cifar_folder(const test::TempDir& dir) {
  const std::string folder = dir / "src/cifar-10-batches-bin";
  std::filesystem::create_directories(folder);
  test::write_synthetic_cifar_binary(folder, 2, 2);
  test::write_bytes(folder + "/batches.meta.txt", "airplane\nautomobile\n");
}

// The message of unpacking `archive` into dir/to ("ok" when it unpacks), and checks that a
// refusal leaves neither the data folder nor a scratch folder.
std::string unpack_result(const test::TempDir& dir, const std::string& archive, int64_t max_bytes = kMaxUnpackedBytes) {
  const std::string to = dir / "to";
  std::filesystem::create_directories(to);
  const std::string data_dir = to + "/cifar-10-batches-bin";
  try {
    unpack_cifar_archive(archive, to, data_dir, max_bytes);
  } catch (const UserError& e) {
    EXPECT_FALSE(std::filesystem::exists(data_dir)) << archive;
    EXPECT_TRUE(std::filesystem::is_empty(to)) << archive << ": the scratch folder is left";
    return e.what();
  }
  std::filesystem::remove_all(data_dir);
  return "ok";
}

}  // namespace

TEST(Unpack, TarAndTarGzOfTheLayoutUnpack) {
  test::TempDir dir;
  write_cifar_folder(dir);
  run_python(dir, R"(import sys, tarfile
src, out = sys.argv[1], sys.argv[2]
for mode, name in (("w", "plain.tar"), ("w:gz", "packed.tar.gz")):
    with tarfile.open(out + "/" + name, mode) as t:
        t.add(src + "/cifar-10-batches-bin", arcname="cifar-10-batches-bin")
)",
             dir / "src " + dir.path());
  EXPECT_EQ(unpack_result(dir, dir / "plain.tar"), "ok");
  EXPECT_EQ(unpack_result(dir, dir / "packed.tar.gz"), "ok");
}

// libarchive knows many formats; ringtrain takes tar and tar.gz only. A zip of the right layout
// and an mtree "archive" (a text file whose entries name local files to copy) are refused.
TEST(Unpack, OtherFormatsThanTarAreRefused) {
  test::TempDir dir;
  write_cifar_folder(dir);
  run_python(dir, R"(import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out + "/cifar.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(src + "/cifar-10-batches-bin")):
        z.write(src + "/cifar-10-batches-bin/" + name, "cifar-10-batches-bin/" + name)
)",
             dir / "src " + dir.path());
  const std::string zip = unpack_result(dir, dir / "cifar.zip");
  EXPECT_NE(zip.find("is not a readable tar or tar.gz archive"), std::string::npos) << zip;
  // mtree: "contents=" names a file on this machine that libarchive would copy in.
  std::string mtree = "#mtree\n/set type=file uid=0 gid=0 mode=0644\ncifar-10-batches-bin type=dir\n";
  for (const char* name : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                           "data_batch_5.bin", "test_batch.bin", "batches.meta.txt"}) {
    mtree += fmt::format("cifar-10-batches-bin/{} type=file contents={}/src/cifar-10-batches-bin/{}\n", name,
                         dir.path(), name);
  }
  test::write_bytes(dir / "cifar.mtree", mtree);
  const std::string m = unpack_result(dir, dir / "cifar.mtree");
  EXPECT_NE(m.find("is not a readable tar or tar.gz archive"), std::string::npos) << m;
  test::write_bytes(dir / "text.tar.gz", "not an archive at all\n");
  EXPECT_NE(unpack_result(dir, dir / "text.tar.gz").find("not a readable tar"), std::string::npos);
}

// An archive bomb: a small .tar.gz whose entries declare more than the limit is refused from
// its headers before anything is written; so is one with too many entries, a link, a device.
TEST(Unpack, BombsLinksAndSpecialFilesAreRefusedBeforeWriting) {
  test::TempDir dir;
  write_cifar_folder(dir);
  run_python(dir, R"(import io, sys, tarfile
src, out = sys.argv[1], sys.argv[2]

class Zeros(io.RawIOBase):  # n zero bytes, never all in memory
    def __init__(self, n): self.left = n
    def readable(self): return True
    def readinto(self, b):
        k = min(len(b), self.left); b[:k] = bytes(k); self.left -= k; return k

def entry(t, name, size, **kw):
    info = tarfile.TarInfo(name); info.size = size
    for k, v in kw.items(): setattr(info, k, v)
    t.addfile(info, io.BufferedReader(Zeros(size)) if size else None)

with tarfile.open(out + "/bomb.tar.gz", "w:gz", compresslevel=1) as t:  # 8 MB of zeros in ~40 KB
    t.add(src + "/cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    entry(t, "cifar-10-batches-bin/zeros.bin", 8 << 20)
with tarfile.open(out + "/many.tar.gz", "w:gz") as t:
    for i in range(1001): entry(t, "cifar-10-batches-bin/f%d" % i, 0)
with tarfile.open(out + "/symlink.tar.gz", "w:gz") as t:
    entry(t, "cifar-10-batches-bin", 0, type=tarfile.SYMTYPE, linkname="/etc")
with tarfile.open(out + "/hardlink.tar.gz", "w:gz") as t:
    entry(t, "cifar-10-batches-bin/data_batch_1.bin", 0, type=tarfile.LNKTYPE, linkname="/etc/passwd")
with tarfile.open(out + "/fifo.tar.gz", "w:gz") as t:
    entry(t, "cifar-10-batches-bin/fifo", 0, type=tarfile.FIFOTYPE)
with tarfile.open(out + "/absolute.tar.gz", "w:gz") as t:
    entry(t, "/tmp/ringtrain-absolute", 4)
)",
             dir / "src " + dir.path());
  const auto start = std::chrono::steady_clock::now();
  const std::string bomb = unpack_result(dir, dir / "bomb.tar.gz", /*max_bytes=*/4 << 20);
  EXPECT_NE(bomb.find("bomb.tar.gz unpacks to more than 4 MB"), std::string::npos) << bomb;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  EXPECT_EQ(unpack_result(dir, dir / "bomb.tar.gz"), "ok");  // the same archive within the default limit
  EXPECT_NE(unpack_result(dir, dir / "many.tar.gz").find("holds more than 1000 entries"), std::string::npos);
  EXPECT_NE(unpack_result(dir, dir / "symlink.tar.gz").find("is a link or special file"), std::string::npos);
  EXPECT_NE(unpack_result(dir, dir / "hardlink.tar.gz").find("is a link or special file"), std::string::npos);
  EXPECT_NE(unpack_result(dir, dir / "fifo.tar.gz").find("is a link or special file"), std::string::npos);
  EXPECT_NE(unpack_result(dir, dir / "absolute.tar.gz").find("is an absolute path"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists("/tmp/ringtrain-absolute"));
}

}  // namespace rt
