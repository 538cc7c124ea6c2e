// The CIFAR-10 binary archive once fetched: its MD5 (OpenSSL), its layout, and unpacking it
// (libarchive) into DIR/cifar-10-batches-bin all or nothing. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace rt {

// The folder the archive unpacks to, and what `train --data` is pointed at.
inline constexpr const char* kCifarFolderName = "cifar-10-batches-bin";
// One record: a label byte and a 32x32x3 image.
inline constexpr int64_t kCifarRecordBytes = 3073;

// Lower-case hex MD5 of a byte string / of a file streamed in chunks (UserError if unreadable).
std::string md5_hex(const std::string& bytes);
std::string md5_hex_of_file(const std::string& path);

// True for exactly 32 hex digits (either case).
bool is_md5_hex(const std::string& text);

// Empty when `folder` holds data_batch_1..5.bin and test_batch.bin (each a positive multiple
// of 3073 bytes) and batches.meta.txt; otherwise what is wrong, naming the file.
std::string cifar_layout_problem(const std::string& folder);

// "50,000 training and 10,000 test images" for a folder with that layout.
std::string describe_cifar_folder(const std::string& folder);

// What an archive may unpack to (Note [What an archive may hold] in cifar_archive.cpp): 4x the
// ~185 MB of CIFAR-10's, and 1,000 entries (it has 9).
inline constexpr int64_t kMaxUnpackedBytes = int64_t{4} * 185 * 1000 * 1000;
inline constexpr int64_t kMaxArchiveEntries = 1000;

// Unpacks `archive_path` (tar or tar.gz only) into a scratch folder in `to`, checks the
// layout, and renames its cifar-10-batches-bin to `data_dir` (Note [All or nothing]). Refuses,
// writing nothing, another format (zip, mtree, ...), absolute paths, '..', links and special
// files, more than kMaxArchiveEntries entries, or declared sizes past `max_bytes`; stops and
// cleans up if the bytes written pass `max_bytes`. Throws UserError naming what is wrong.
void unpack_cifar_archive(const std::string& archive_path, const std::string& to, const std::string& data_dir,
                          int64_t max_bytes = kMaxUnpackedBytes);

}  // namespace rt
