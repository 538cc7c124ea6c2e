// The safetensors container (huggingface/safetensors, format.md), written and read without
// LibTorch: an 8-byte little-endian header length N, N bytes of JSON (space-padded) naming each
// tensor's dtype, shape and [begin, end) byte range in the data that follows, then the data.
// Nothing in it is executable, so reading one can run no code; what a reader must check is that
// every range, size and number lies, and `parse_safetensors` checks all of it before a byte of
// tensor data is touched:
// - the header's length is within the file and a cap, its JSON an object of at most a few levels;
// - each tensor has a known dtype, non-negative dimensions whose element count does not
//   overflow, and a byte range that matches that count and lies inside the data;
// - the ranges tile the data exactly (no gaps, no overlaps, nothing after the last one), as the
//   reference implementation requires, so a file that passes here loads in Python too;
// - metadata (the reserved "__metadata__" entry) maps strings to strings.
// A checksummed file (Note [Checksum in the header]) also carries a CRC-32 of the whole file,
// checked before its JSON is parsed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rt {

// One tensor's entry: data_offsets are relative to the start of the data section.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;           // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;  // [] for a scalar
  uint64_t begin = 0, end = 0;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::vector<SafetensorsEntry> tensors;  // in file order (by begin)
  size_t data_offset = 0;                 // where the data section starts in the file
};

// The dtypes ringtrain reads and writes, with their bytes per element (device/dtype_names.h maps
// the same names to LibTorch's scalar types; a unit test holds the two tables equal).
struct SafetensorsDtype {
  const char* name;
  size_t bytes;
};
inline constexpr SafetensorsDtype kSafetensorsDtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
                                                          {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};

// Bytes per element of a safetensors dtype; 0 when the name is not one.
size_t safetensors_dtype_size(const std::string& dtype);

// Parses and validates a whole file held in memory. With `require_checksum`, the file must carry
// a CRC-32 (Note [Checksum in the header]) that matches. Throws UserError naming `what` (the
// file) and what is wrong.
SafetensorsFile parse_safetensors(const unsigned char* data, size_t size, const std::string& what,
                                  bool require_checksum);

// A tensor to write: its entry (name, dtype, shape; the offsets are assigned) and its bytes.
struct SafetensorsBlob {
  std::string name, dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// The whole file for `tensors` (in that order) and `metadata`, with the checksum when
// `checksum` is set.
std::string encode_safetensors(const std::vector<SafetensorsBlob>& tensors,
                               const std::map<std::string, std::string>& metadata, bool checksum);

// Writes the CRC-32 into a file that has the checksum's place (Note [Checksum in the header]);
// false, changing nothing, when it has none. `encode_safetensors` seals what it writes; the
// checkpoint fuzzer seals its inputs, to reach the checks behind the checksum.
bool seal_safetensors_checksum(unsigned char* data, size_t size);

// True when the bytes start as a safetensors file does (a header length and a '{').
bool looks_like_safetensors(const unsigned char* data, size_t size);

// CRC-32 (zlib's polynomial) of any number of bytes, continuing from `crc`.
uint32_t crc32_of(const unsigned char* data, size_t size, uint32_t crc = 0);

}  // namespace rt
