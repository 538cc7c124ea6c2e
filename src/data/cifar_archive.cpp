// Implements data/cifar_archive.h: MD5 with OpenSSL's EVP interface, unpacking with
// libarchive into a scratch folder renamed into place (Note [All or nothing]).
#include "data/cifar_archive.h"

#include <archive.h>        // defines: archive_read_*, archive_write_disk_* (unpacking)
#include <archive_entry.h>  // defines: archive_entry_pathname, archive_entry_filetype
#include <openssl/evp.h>    // defines: EVP_Digest*, EVP_md5 (the checksum)
#include <stdlib.h>         // defines: mkdtemp

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <vector>

#include "core/archive_message.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"

namespace rt {

namespace fs = std::filesystem;

namespace {

const char* const kUnpackPrefix = ".cifar-10-batches-bin.unpack.";

// An EVP MD5 context, freed on every path out.
class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_md5(), nullptr) != 1) {
      EVP_MD_CTX_free(ctx_);
      throw std::runtime_error("OpenSSL cannot compute MD5 here (is it in FIPS mode?)");
    }
  }
  ~Md5() { EVP_MD_CTX_free(ctx_); }
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;

  void update(const void* data, size_t size) { EVP_DigestUpdate(ctx_, data, size); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_, digest, &length);
    std::string out;
    for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

bool is_safe_entry_name(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    const size_t end = std::min(name.find('/', start), name.size());
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_free)>;

// A reader of tar or tar.gz only (Note [What an archive may hold]).
ArchivePtr open_tar(const std::string& archive_path) {
  ArchivePtr in(archive_read_new(), &archive_free);
  if (!in) throw std::runtime_error("libarchive: out of memory");
  archive_read_support_filter_gzip(in.get());
  archive_read_support_format_tar(in.get());  // ustar, pax, and GNU tar's extensions
  archive_read_support_format_gnutar(in.get());
  RT_CHECK_USER(archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) == ARCHIVE_OK,
                "{} is not a readable tar or tar.gz archive: {}; ringtrain unpacks only those: pass --url of "
                "cifar-10-binary.tar.gz",
                archive_path, archive_message(in.get()));
  return in;
}

// The end of reading an archive's headers: EOF, or a message naming what is wrong.
void check_header_end(int rc, struct archive* in, const std::string& archive_path) {
  RT_CHECK_USER(rc == ARCHIVE_EOF,
                "{} is not a readable tar or tar.gz archive: {}; ringtrain unpacks only those: pass --url of "
                "cifar-10-binary.tar.gz",
                archive_path, archive_message(in));
}

// An entry's name, checked: a relative path without '..', a regular file or a folder.
std::string checked_entry_name(struct archive_entry* entry, const std::string& archive_path) {
  const char* raw_name = archive_entry_pathname(entry);
  const std::string name = raw_name != nullptr ? raw_name : "";
  RT_CHECK_USER(is_safe_entry_name(name), "{}: entry '{}' is an absolute path or contains '..'; refusing to unpack it",
                archive_path, name);
  const auto type = archive_entry_filetype(entry);
  RT_CHECK_USER((type == AE_IFREG || type == AE_IFDIR) && archive_entry_hardlink(entry) == nullptr &&
                    archive_entry_symlink(entry) == nullptr,
                "{}: entry '{}' is a link or special file; a CIFAR-10 archive holds only files and folders",
                archive_path, name);
  RT_CHECK_USER(archive_entry_sparse_count(entry) == 0,
                "{}: entry '{}' is a sparse file; a CIFAR-10 archive holds only plain files", archive_path, name);
  return name;
}

std::string too_large(const std::string& archive_path, int64_t limit) {
  return fmt::format(
      "{} unpacks to more than {} (CIFAR-10 is ~185 MB); refusing to unpack it: it is not the CIFAR-10 binary "
      "archive, pass --url of cifar-10-binary.tar.gz",
      archive_path, fmt::format("{:.0f} MB", static_cast<double>(limit) / 1e6));
}

// Note [What an archive may hold]
// A downloaded archive is input from the network (or from --url file://...), and the MD5 only
// says it is the file the user named. So: tar and tar.gz only (libarchive's other formats
// include mtree, whose "entries" name local files to copy, and zip); entries are regular files
// and folders with relative names, no '..', no links, no sparse files; at most
// kMaxArchiveEntries of them; and at most `max_bytes` unpacked. A first pass reads only the
// headers (decompressing, writing nothing) and refuses an archive whose entries or declared
// sizes break a rule, so a small "archive bomb" writes nothing; the second pass writes and
// counts the bytes as they are written, stopping at the limit whatever the headers said.
void check_entries(const std::string& archive_path, int64_t max_bytes) {
  ArchivePtr in = open_tar(archive_path);
  struct archive_entry* entry = nullptr;
  int64_t entries = 0, declared = 0;
  int rc;
  while ((rc = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK) {
    checked_entry_name(entry, archive_path);
    RT_CHECK_USER(++entries <= kMaxArchiveEntries,
                  "{} holds more than {} entries (CIFAR-10's holds 9); it is not the CIFAR-10 binary archive: pass "
                  "--url of cifar-10-binary.tar.gz",
                  archive_path, kMaxArchiveEntries);
    const int64_t size = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0;
    RT_CHECK_USER(size >= 0 && size <= max_bytes - declared, "{}", too_large(archive_path, max_bytes));
    declared += size;
    RT_CHECK_USER(archive_read_data_skip(in.get()) == ARCHIVE_OK, "{} is not a readable archive: {}", archive_path,
                  archive_message(in.get()));
  }
  check_header_end(rc, in.get(), archive_path);
}

// Unpacks the regular files and folders of `archive_path` under `into` (Note [What an archive
// may hold]: check_entries has passed).
void extract(const std::string& archive_path, const std::string& into, int64_t max_bytes) {
  ArchivePtr in = open_tar(archive_path);
  ArchivePtr out(archive_write_disk_new(), &archive_free);
  if (!out) throw std::runtime_error("libarchive: out of memory");
  // Our own checks refuse what the SECURE flags would; NODOTDOT stays as a second guard
  // (`into` is canonical, so it has no '..' of its own). The other two flags would also judge
  // the absolute, possibly symlinked `into` and refuse every entry.
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  // Strict: libarchive reports a failed write() (ENOSPC) as ARCHIVE_WARN only, and then
  // pads the file to its full size with a hole; accepting WARN would unpack zeros.
  auto check_write = [&](int rc, const std::string& name) {
    const int err = archive_errno(out.get());
    RT_CHECK_USER(rc == ARCHIVE_OK, "cannot unpack {} into {}: {}{}; check the free space (~185 MB)", name, into,
                  archive_message(out.get()), err > 0 ? fmt::format(" ({})", std::strerror(err)) : "");
  };
  struct archive_entry* entry = nullptr;
  int64_t written = 0;
  int rc;
  while ((rc = archive_read_next_header(in.get(), &entry)) == ARCHIVE_OK) {
    const std::string name = checked_entry_name(entry, archive_path);
    const auto type = archive_entry_filetype(entry);
    archive_entry_set_pathname(entry, (into + "/" + name).c_str());
    archive_entry_set_perm(entry, type == AE_IFDIR ? 0755 : 0644);  // never unreadable or unremovable
    check_write(archive_write_header(out.get(), entry), name);
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int data_rc;
    while ((data_rc = archive_read_data_block(in.get(), &block, &size, &offset)) == ARCHIVE_OK) {
      written += static_cast<int64_t>(size);
      RT_CHECK_USER(written <= max_bytes, "{}", too_large(archive_path, max_bytes));
      check_write(static_cast<int>(archive_write_data_block(out.get(), block, size, offset)), name);
    }
    RT_CHECK_USER(data_rc == ARCHIVE_EOF,
                  "{} is not a readable archive at '{}': {}; pass --url of "
                  "cifar-10-binary.tar.gz",
                  archive_path, name, archive_message(in.get()));
    check_write(archive_write_finish_entry(out.get()), name);
  }
  check_header_end(rc, in.get(), archive_path);
}

// A folder removed with everything in it when this goes out of scope (success or not).
class ScratchFolder {
 public:
  explicit ScratchFolder(std::string path) : path_(std::move(path)) {}
  ~ScratchFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

int64_t count_records(const std::string& folder, const std::vector<std::string>& names) {
  int64_t records = 0;
  for (const auto& name : names) records += file_size_or_zero(folder + "/" + name) / kCifarRecordBytes;
  return records;
}

const std::vector<std::string>& train_files() {
  static const std::vector<std::string> names = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                                 "data_batch_4.bin", "data_batch_5.bin"};
  return names;
}

}  // namespace

std::string describe_cifar_folder(const std::string& folder) {
  return fmt::format("{} training and {} test images", with_thousands(count_records(folder, train_files())),
                     with_thousands(count_records(folder, {"test_batch.bin"})));
}

// Note [All or nothing]
// The archive is unpacked into DIR/.cifar-10-batches-bin.unpack.XXXXXX (same file system,
// so the final rename is atomic), its layout checked, and only then is the folder renamed
// to DIR/cifar-10-batches-bin. A failure or a kill before the rename leaves no data folder;
// the scratch folder is removed on the way out, or by the next run if the process was killed.
void unpack_cifar_archive(const std::string& archive_path, const std::string& to, const std::string& data_dir,
                          int64_t max_bytes) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(to, ec)) {
    if (e.path().filename().string().rfind(kUnpackPrefix, 0) == 0) fs::remove_all(e.path(), ec);
  }
  const fs::path real_to = fs::canonical(to, ec);
  RT_CHECK_USER(!ec, "cannot resolve folder {}: {}", to, ec.message());
  std::string scratch_template = real_to.string() + "/" + kUnpackPrefix + "XXXXXX";
  RT_CHECK_USER(mkdtemp(scratch_template.data()) != nullptr, "cannot create a folder in {}: {}", to,
                std::strerror(errno));
  const ScratchFolder scratch(scratch_template);
  log_info("unpacking {}", archive_path);
  check_entries(archive_path, max_bytes);
  extract(archive_path, scratch.path(), max_bytes);
  const std::string unpacked = scratch.path() + "/" + kCifarFolderName;
  RT_CHECK_USER(dir_exists(unpacked),
                "{} holds no {} folder, so it is not the CIFAR-10 binary archive (the Python and MATLAB versions "
                "do not work); pass --url of cifar-10-binary.tar.gz",
                archive_path, kCifarFolderName);
  const std::string problem = cifar_layout_problem(unpacked);
  RT_CHECK_USER(problem.empty(),
                "{}: {}/{}; it is not a complete CIFAR-10 binary archive: pass --url of "
                "cifar-10-binary.tar.gz",
                archive_path, kCifarFolderName, problem);
  RT_CHECK_USER(std::rename(unpacked.c_str(), data_dir.c_str()) == 0, "cannot move {} to {}: {}", unpacked, data_dir,
                std::strerror(errno));
  log_info("unpacked {} into {}", describe_cifar_folder(data_dir), data_dir);
}

std::string md5_hex(const std::string& bytes) {
  Md5 md5;
  md5.update(bytes.data(), bytes.size());
  return md5.hex();
}

std::string md5_hex_of_file(const std::string& path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  RT_CHECK_USER(file != nullptr, "cannot open {}: {}", path, std::strerror(errno));
  Md5 md5;
  std::vector<char> buffer(1 << 20);
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) md5.update(buffer.data(), n);
  RT_CHECK_USER(!std::ferror(file.get()), "cannot read {}: {}", path, std::strerror(errno));
  return md5.hex();
}

bool is_md5_hex(const std::string& text) {
  return text.size() == 32 &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

std::string cifar_layout_problem(const std::string& folder) {
  std::vector<std::string> names = train_files();
  names.push_back("test_batch.bin");
  for (const auto& name : names) {
    const std::string path = folder + "/" + name;
    if (!file_exists(path)) return name + " is missing";
    const int64_t size = file_size_or_zero(path);
    if (size == 0 || size % kCifarRecordBytes != 0) {
      return fmt::format("{} has {} bytes, not a positive multiple of {} (one record)", name, size, kCifarRecordBytes);
    }
  }
  if (!file_exists(folder + "/batches.meta.txt")) return "batches.meta.txt is missing";
  return "";
}

}  // namespace rt
