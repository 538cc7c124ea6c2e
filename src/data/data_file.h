// Reading a data file (an image, a CIFAR batch) whole, with its size bounded before anything is
// allocated: only a regular file is read (a FIFO, device or socket named like an image is
// refused without blocking: it is opened with O_NONBLOCK and checked with fstat), and one
// larger than the caller's bound is refused, naming the file, its size and the bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rt {

// The regular file's size in bytes. Throws UserError naming `path` when it cannot be opened
// (missing, a link to nothing, no permission) or is not a regular file.
int64_t data_file_size(const std::string& path);

// The whole of a regular file of at most max_bytes bytes. Throws UserError naming `path` when it
// cannot be opened or read, is not a regular file, is larger than max_bytes (`what` says what
// the file should be, for the message: "an image file") or changes size while read.
std::vector<unsigned char> read_data_file(const std::string& path, int64_t max_bytes, const char* what);

}  // namespace rt
