// File helpers: whole-file reads with clear errors, and atomic writes (temp file in the same
// folder, fsync, rename, fsync of the folder) so that a reader never sees a half-written file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rt {

// Reads a whole file; throws UserError naming the path if it cannot.
std::vector<unsigned char> read_file_bytes(const std::string& path);
// The same, refusing before it allocates a file of more than `max_bytes` (a regular file) or
// reads past them (a pipe); `kind` names what the file should be in the message ("a
// checkpoint"). Anything but a regular file or a pipe (a folder, a device) is refused, and a
// FIFO without a writer reads as empty instead of waiting forever.
std::vector<unsigned char> read_file_bytes(const std::string& path, uint64_t max_bytes, const std::string& kind);

// The same as text (a config, a JSON record).
std::string read_file_at_most(const std::string& path, uint64_t max_bytes, const std::string& kind);

// Writes `bytes` to `path` atomically. Throws UserError (naming the path and the OS error,
// e.g. "No space left on device") and leaves any previous `path` untouched on failure. Not
// `durable`, the file and the rename are not synced to disk: a reader still never sees half a
// file, but a crash may lose it (for a cache, whose entries can be made again).
void write_file_atomic(const std::string& path, const void* data, size_t size, bool durable = true);
inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

// Creates a folder and its parents; throws UserError if it cannot.
void make_dirs(const std::string& path);
// Makes the renames and removals in folder `dir` durable (fsync of the folder); best effort.
void sync_dir(const std::string& dir);
// Removes the temporary files write_file_atomic(`dir`/`name`) leaves when it is killed
// mid-write (".NAME.tmp.XXXXXX"); returns how many.
int remove_stale_temporaries(const std::string& dir, const std::string& name);

bool file_exists(const std::string& path);
// The size of a file in bytes; 0 when it is missing or unreadable.
int64_t file_size_or_zero(const std::string& path);
bool dir_exists(const std::string& path);

}  // namespace rt
