#include "core/safetensors.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace rt {

namespace {

// The reference implementation's cap on the header (safetensors' MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A tensor has at most this many dimensions (PyTorch's own limit is 64; ours need 4).
constexpr size_t kMaxDims = 16;

// Note [Checksum in the header]
// A checksummed file's header starts with exactly these bytes, then 8 lowercase hex digits and a
// quote: the CRC-32 of the whole file computed with those 8 digits written as '0'. The checksum
// sits at a fixed place, so it is checked before the JSON is parsed, and it lives inside
// "__metadata__" (a string, as the format requires), so the file stays a valid safetensors file
// that Python's `safetensors.torch.load_file` reads.
constexpr char kChecksumPrefix[] = "{\"__metadata__\":{\"crc32\":\"";
constexpr size_t kChecksumPrefixBytes = sizeof(kChecksumPrefix) - 1;
constexpr size_t kChecksumAt = 8 + kChecksumPrefixBytes;  // file offset of the 8 hex digits

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// The CRC-32 of the file with its checksum digits taken as '0'.
uint32_t file_crc(const unsigned char* data, size_t size) {
  static const unsigned char zeros[8] = {'0', '0', '0', '0', '0', '0', '0', '0'};
  uint32_t crc = crc32_of(data, kChecksumAt);
  crc = crc32_of(zeros, 8, crc);
  return crc32_of(data + kChecksumAt + 8, size - kChecksumAt - 8, crc);
}

bool is_hex8(const unsigned char* p) {
  for (int i = 0; i < 8; ++i) {
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return false;
  }
  return true;
}

}  // namespace

uint32_t crc32_of(const unsigned char* data, size_t size, uint32_t crc) {
  uLong c = crc;
  while (size > 0) {  // zlib's length is 32-bit: feed it in pieces (files over 4 GiB)
    const size_t piece = std::min<size_t>(size, 1u << 30);
    c = crc32(c, data, static_cast<uInt>(piece));
    data += piece;
    size -= piece;
  }
  return static_cast<uint32_t>(c);
}

size_t safetensors_dtype_size(const std::string& dtype) {
  for (const auto& d : kSafetensorsDtypes) {
    if (dtype == d.name) return d.bytes;
  }
  return 0;
}

bool looks_like_safetensors(const unsigned char* data, size_t size) {
  if (size < 9) return false;
  const uint64_t n = read_le64(data);
  return n >= 2 && n <= size - 8 && data[8] == '{';
}

SafetensorsFile parse_safetensors(const unsigned char* data, size_t size, const std::string& what,
                                  bool require_checksum) {
  RT_CHECK_USER(size >= 8, "{}: {} bytes, too short for a safetensors file (truncated?)", what, size);
  const uint64_t header_bytes = read_le64(data);
  RT_CHECK_USER(header_bytes >= 2 && header_bytes <= size - 8 && header_bytes <= kMaxHeaderBytes,
                "{}: its header claims {} bytes but the file has {} after the length (truncated, or not a "
                "safetensors file)",
                what, header_bytes, size - 8);
  const char* header = reinterpret_cast<const char*>(data + 8);
  RT_CHECK_USER(header[0] == '{', "{}: not a safetensors file (its header is not a JSON object)", what);
  if (require_checksum) {
    RT_CHECK_USER(header_bytes >= kChecksumPrefixBytes + 9 &&
                      std::memcmp(header, kChecksumPrefix, kChecksumPrefixBytes) == 0 && is_hex8(data + kChecksumAt) &&
                      data[kChecksumAt + 8] == '"',
                  "{}: carries no ringtrain checksum (not a checkpoint written by ringtrain)", what);
    uint32_t stored = 0;
    for (int i = 0; i < 8; ++i) {
      const unsigned char c = data[kChecksumAt + static_cast<size_t>(i)];
      stored = (stored << 4) | static_cast<uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    RT_CHECK_USER(file_crc(data, size) == stored,
                  "{}: checksum mismatch (the file is corrupt, truncated or was changed after it was written)", what);
  }

  // The JSON: an object of objects, so nothing deeper than 3 levels (entry -> shape -> number).
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header, header + header_bytes,
                              [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
                                if (depth > 3) throw std::length_error("nested too deeply");
                                return true;
                              });
  } catch (const std::exception& e) {
    throw UserError(fmt::format("{}: its safetensors header is not valid JSON ({})", what, e.what()));
  }
  RT_CHECK_USER(j.is_object(), "{}: its safetensors header is not a JSON object", what);

  SafetensorsFile file;
  file.data_offset = static_cast<size_t>(8 + header_bytes);
  const uint64_t data_bytes = size - file.data_offset;
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      RT_CHECK_USER(entry.is_object(), "{}: __metadata__ must map strings to strings", what);
      for (const auto& [key, value] : entry.items()) {
        RT_CHECK_USER(value.is_string(), "{}: __metadata__ entry '{}' is not a string", what, key);
        file.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    RT_CHECK_USER(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                      entry.contains("data_offsets") && entry.size() == 3,
                  "{}: tensor '{}' needs exactly dtype, shape and data_offsets", what, name);
    SafetensorsEntry t;
    t.name = name;
    const auto& dtype = entry.at("dtype");
    RT_CHECK_USER(dtype.is_string() && safetensors_dtype_size(dtype.get<std::string>()) > 0,
                  "{}: tensor '{}' has an unknown dtype {}", what, name, dtype.dump());
    t.dtype = dtype.get<std::string>();
    const auto& shape = entry.at("shape");
    RT_CHECK_USER(shape.is_array() && shape.size() <= kMaxDims, "{}: tensor '{}' has a bad shape {}", what, name,
                  shape.dump().substr(0, 80));
    uint64_t numel = 1;
    for (const auto& d : shape) {
      RT_CHECK_USER(d.is_number_unsigned() && d.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX),
                    "{}: tensor '{}' has a dimension that is not a non-negative integer: {}", what, name,
                    shape.dump().substr(0, 80));
      const uint64_t dim = d.get<uint64_t>();
      RT_CHECK_USER(!__builtin_mul_overflow(numel, dim, &numel), "{}: tensor '{}' has more elements than can exist",
                    what, name);
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t bytes = 0;
    RT_CHECK_USER(!__builtin_mul_overflow(numel, safetensors_dtype_size(t.dtype), &bytes) &&
                      bytes <= static_cast<uint64_t>(INT64_MAX),
                  "{}: tensor '{}' has more bytes than can exist", what, name);
    const auto& offsets = entry.at("data_offsets");
    RT_CHECK_USER(
        offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
        "{}: tensor '{}' needs data_offsets [begin, end] of non-negative integers", what, name);
    t.begin = offsets[0].get<uint64_t>();
    t.end = offsets[1].get<uint64_t>();
    RT_CHECK_USER(t.begin <= t.end && t.end <= data_bytes,
                  "{}: tensor '{}' lies at bytes [{}, {}) but the data holds {} (truncated or crafted)", what, name,
                  t.begin, t.end, data_bytes);
    RT_CHECK_USER(t.end - t.begin == bytes, "{}: tensor '{}' {} of {} x {} needs {} bytes, its range holds {}", what,
                  name, t.dtype, numel, shape.dump().substr(0, 80), bytes, t.end - t.begin);
    file.tensors.push_back(std::move(t));
  }
  std::sort(file.tensors.begin(), file.tensors.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const auto& t : file.tensors) {
    RT_CHECK_USER(t.begin == at,
                  "{}: tensor '{}' starts at byte {} of the data where {} was expected (the ranges "
                  "overlap or leave a gap)",
                  what, t.name, t.begin, at);
    at = t.end;
  }
  RT_CHECK_USER(at == data_bytes, "{}: {} bytes of data follow its last tensor (not a safetensors file, or crafted)",
                what, data_bytes - at);
  return file;
}

std::string encode_safetensors(const std::vector<SafetensorsBlob>& tensors,
                               const std::map<std::string, std::string>& metadata, bool checksum) {
  // Written by hand so that the checksum comes first (Note [Checksum in the header]); the rest
  // of each value is JSON as nlohmann writes it (strings escaped).
  std::string header = "{\"__metadata__\":{";
  bool first = true;
  if (checksum) {
    header += "\"crc32\":\"00000000\"";
    first = false;
  }
  for (const auto& [key, value] : metadata) {
    if (checksum && key == "crc32") throw std::logic_error("encode_safetensors: crc32 is the checksum's own key");
    header += (first ? "" : ",") + nlohmann::json(key).dump() + ":" + nlohmann::json(value).dump();
    first = false;
  }
  header += "}";
  uint64_t at = 0;
  for (const auto& t : tensors) {
    const nlohmann::json entry = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes}}};
    header += "," + nlohmann::json(t.name).dump() + ":" + entry.dump();
    at += t.bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // data 8-byte aligned, as the reference pads
  std::string out;
  out.reserve(8 + header.size() + at);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  out += header;
  for (const auto& t : tensors) out.append(static_cast<const char*>(t.data), t.bytes);
  if (checksum) seal_safetensors_checksum(reinterpret_cast<unsigned char*>(out.data()), out.size());
  return out;
}

bool seal_safetensors_checksum(unsigned char* data, size_t size) {
  if (size < kChecksumAt + 9 || std::memcmp(data + 8, kChecksumPrefix, kChecksumPrefixBytes) != 0) return false;
  const std::string digits = fmt::format("{:08x}", file_crc(data, size));
  std::memcpy(data + kChecksumAt, digits.data(), 8);
  return true;
}

}  // namespace rt
