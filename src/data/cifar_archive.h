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

// Unpacks `archive_path` into a scratch folder in `to`, checks the layout, and renames its
// cifar-10-batches-bin to `data_dir` (Note [All or nothing]); refuses absolute paths, '..'
// and links in the archive. Throws UserError naming what is wrong.
void unpack_cifar_archive(const std::string& archive_path, const std::string& to, const std::string& data_dir);

}  // namespace rt
