// The resized-image cache (--cache-dir DIR --max-side N): a store of a folder's images made
// once at a bounded side, as FFCV's max_resolution, so that later epochs and runs read small
// files instead of entropy-decoding large photographs. The first read of an image decodes its
// source, resizes it (antialiased bilinear) so that its longer side is at most N, and stores it
// as a JPEG at quality 95 (a JPEG that already fits is stored as it is, byte for byte) or as
// raw pixels (--cache-format raw: larger, no decoding at all); each later read takes the entry.
//
// Note [Image cache entries]: DIR/<format>-<N>/<2 hex>/<16 hex>.rtc, the hex an FNV-1a hash of
// the source's absolute path. An entry is the header
//   "RTIMGC01", u32 format (1 JPEG, 2 raw), u32 N, u32 width, u32 height,
//   u64 source bytes, i64 source modification time (ns), u32 L, L bytes of the source's path,
//   u64 P, u32 CRC-32 of the payload (zlib's), P bytes of payload (the JPEG, or width x height
//   x 3 RGB bytes)
// in little-endian, the file exactly that long. An entry is used only when all of it agrees:
// format, N, the source's path, size and modification time as they are now (a source that was
// changed is read again), a size within N, a payload of the stated length and checksum whose
// JPEG header states the same size. Anything else (another source hashed to the same name, a
// truncated, damaged or crafted entry) is made again from the source, and so is a JPEG entry
// that passes all that and still does not decode (make_file_batch asks for it). Entries are written to a temporary file
// and renamed, so that loader threads and ranks sharing the folder never see half of one; their decoding stays bounded
// as any image's (Note [Bounded decoding]).
#pragma once

#include <torch/torch.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "data/image_decode.h"

namespace rt {

struct ImageCacheOptions {
  std::string dir;
  int max_side = 512;
  bool raw = false;         // raw pixels instead of a JPEG
  int quality = 95;         // of the re-encoded JPEGs
  bool dct_scaling = true;  // a JPEG source decoded at a reduced DCT scale where the size allows
};

// An image as the cache gives it: the encoded bytes (JPEG entries) or the pixels (raw ones).
struct CachedImage {
  std::string path;                  // the entry (or the source, when just made), for messages
  bool from_entry = false;           // read from a stored entry (else just made from the source)
  ImageInfo info;                    // its size; format kJpeg for an encoded entry
  std::vector<unsigned char> bytes;  // a JPEG entry's payload
  torch::Tensor rgb;                 // a raw entry's pixels, [height, width, 3] uint8
  bool raw() const { return rgb.defined(); }
};

// What parse_cache_entry reads of an entry.
struct CacheEntry {
  uint32_t format = 0, max_side = 0, width = 0, height = 0;
  uint64_t source_size = 0;
  int64_t source_mtime_ns = 0;
  std::string source;
  size_t payload_offset = 0, payload_size = 0;
};

// The entry's bytes for these fields, with the payload and its checksum.
std::vector<unsigned char> cache_entry_bytes(const CacheEntry& entry, const std::vector<unsigned char>& payload);

// Parses an entry and checks its payload's length and checksum; false with the reason in `why`
// when the bytes are not a whole, intact entry (never throws, for any bytes).
bool parse_cache_entry(const std::vector<unsigned char>& bytes, CacheEntry& entry, std::string& why);

class ImageCache {
 public:
  // Creates the cache's folder; throws UserError when it cannot (a file there, no permission).
  explicit ImageCache(ImageCacheOptions options);

  // The image of `source`, its longer side at most max_side: the entry when it is valid for the
  // source as it is now, else made from the source and stored. Throws UserError naming `source`
  // when that cannot be read or decoded, and naming the cache folder when it cannot be written.
  CachedImage load(const std::string& source) const;
  // The same, made from the source whatever the entry holds (after its payload failed to decode).
  CachedImage rebuild(const std::string& source) const;

  // The entry file of `source`.
  std::string entry_path(const std::string& source) const;
  const ImageCacheOptions& options() const { return options_; }
  // Reads served by a valid entry, and entries made (first reads, changed sources, bad entries).
  int64_t hits() const { return hits_; }
  int64_t made() const { return made_; }

 private:
  // `key`: the source's absolute path (what an entry records, and its name's hash).
  CachedImage make(const std::string& source, const std::string& key, const std::string& entry) const;
  std::string entry_of(const std::string& key) const;
  ImageCacheOptions options_;
  std::string folder_;  // dir/<format>-<max_side>
  mutable std::atomic<int64_t> hits_{0}, made_{0};
};

// The size an image of width x height is stored at: scaled so that its longer side is max_side
// when it is longer (each side rounded, at least 1), else its own. {width, height}.
std::array<int, 2> cached_size(int width, int height, int max_side);

}  // namespace rt
