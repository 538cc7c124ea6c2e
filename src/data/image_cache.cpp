#include "data/image_cache.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "data/data_file.h"
#include "data/image_transforms.h"
#include "data/jpeg_encode.h"

namespace rt {

namespace {

constexpr char kMagic[8] = {'R', 'T', 'I', 'M', 'G', 'C', '0', '1'};
constexpr uint32_t kJpegEntry = 1, kRawEntry = 2;
constexpr size_t kMaxPathBytes = 4096;
// An entry holds at most a source JPEG kept as it is, or max_side^2 x 3 raw bytes, and its header.
constexpr int64_t kMaxEntryBytes = kMaxImageFileBytes + 8192;

void put(std::vector<unsigned char>& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

// Reads `bytes` little-endian bytes at `pos` when they are there.
bool get(const std::vector<unsigned char>& in, size_t& pos, int bytes, uint64_t& v) {
  if (in.size() - pos < static_cast<size_t>(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(in[pos + static_cast<size_t>(i)]) << (8 * i);
  pos += static_cast<size_t>(bytes);
  return true;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  const auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

struct SourceStat {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  bool ok = false;
};

SourceStat stat_source(const std::string& path) {
  struct stat st {};
  SourceStat s;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return s;
  s.size = static_cast<uint64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.ok = true;
  return s;
}

uint32_t crc32_of(const unsigned char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (size > 0) {  // zlib's length is a uInt
    const auto n = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = crc32(crc, data, n);
    data += n;
    size -= n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

std::array<int, 2> cached_size(int width, int height, int max_side) {
  const int longer = std::max(width, height);
  if (longer <= max_side) return {width, height};
  const double s = static_cast<double>(max_side) / longer;
  const auto side = [&](int v) { return v == longer ? max_side : std::max(1, static_cast<int>(std::lround(v * s))); };
  return {side(width), side(height)};
}

std::vector<unsigned char> cache_entry_bytes(const CacheEntry& e, const std::vector<unsigned char>& payload) {
  std::vector<unsigned char> out(kMagic, kMagic + sizeof kMagic);
  for (const uint32_t v : {e.format, e.max_side, e.width, e.height}) put(out, v, 4);
  put(out, e.source_size, 8);
  put(out, static_cast<uint64_t>(e.source_mtime_ns), 8);
  put(out, e.source.size(), 4);
  out.insert(out.end(), e.source.begin(), e.source.end());
  put(out, payload.size(), 8);
  put(out, crc32_of(payload.data(), payload.size()), 4);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

bool parse_cache_entry(const std::vector<unsigned char>& bytes, CacheEntry& e, std::string& why) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    why = "not a ringtrain image cache entry";
    return false;
  }
  size_t pos = sizeof kMagic;
  uint64_t v[8];
  for (int i = 0; i < 7; ++i) {
    if (!get(bytes, pos, i < 4 || i == 6 ? 4 : 8, v[i])) {
      why = "its header is truncated";
      return false;
    }
  }
  e.format = static_cast<uint32_t>(v[0]);
  e.max_side = static_cast<uint32_t>(v[1]);
  e.width = static_cast<uint32_t>(v[2]);
  e.height = static_cast<uint32_t>(v[3]);
  e.source_size = v[4];
  e.source_mtime_ns = static_cast<int64_t>(v[5]);
  if (e.format != kJpegEntry && e.format != kRawEntry) {
    why = fmt::format("unknown format {}", e.format);
    return false;
  }
  if (e.width == 0 || e.height == 0 || std::max(e.width, e.height) > e.max_side) {
    why = fmt::format("size {}x{} is not within its side {}", e.width, e.height, e.max_side);
    return false;
  }
  if (v[6] == 0 || v[6] > kMaxPathBytes || bytes.size() - pos < v[6]) {
    why = "its source path is empty, too long or truncated";
    return false;
  }
  e.source.assign(reinterpret_cast<const char*>(bytes.data() + pos), static_cast<size_t>(v[6]));
  pos += static_cast<size_t>(v[6]);
  uint64_t crc = 0;
  if (!get(bytes, pos, 8, v[7]) || !get(bytes, pos, 4, crc) || v[7] != bytes.size() - pos) {
    why = "its payload is not the length its header states";
    return false;
  }
  e.payload_offset = pos;
  e.payload_size = static_cast<size_t>(v[7]);
  if (crc32_of(bytes.data() + pos, e.payload_size) != crc) {
    why = "its payload does not match its checksum";
    return false;
  }
  if (e.format == kRawEntry && e.payload_size != static_cast<size_t>(e.width) * e.height * 3) {
    why = fmt::format("a raw payload of {} bytes for {}x{} pixels", e.payload_size, e.width, e.height);
    return false;
  }
  return true;
}

ImageCache::ImageCache(ImageCacheOptions options) : options_(std::move(options)) {
  TORCH_INTERNAL_ASSERT(options_.max_side > 0 && options_.quality >= 1 && options_.quality <= 100);
  folder_ = fmt::format("{}/{}-{}", options_.dir, options_.raw ? "raw" : "jpeg", options_.max_side);
  // Its 256 sub-folders made now, once, rather than by loader threads racing to make them.
  for (int i = 0; i < 256; ++i) make_dirs(fmt::format("{}/{:02x}", folder_, i));
}

std::string ImageCache::entry_path(const std::string& source) const { return entry_of(absolute_path(source)); }

std::string ImageCache::entry_of(const std::string& key) const {
  const std::string hex = fmt::format("{:016x}", fnv1a(key));
  return fmt::format("{}/{}/{}.rtc", folder_, hex.substr(0, 2), hex);
}

CachedImage ImageCache::load(const std::string& source) const {
  const std::string key = absolute_path(source);  // once: it asks the OS for the working folder
  const std::string entry = entry_of(key);
  const SourceStat now = stat_source(source);
  if (now.ok && file_exists(entry)) {
    try {
      const auto bytes = read_data_file(entry, kMaxEntryBytes, "an image cache entry");
      CacheEntry e;
      std::string why;
      if (parse_cache_entry(bytes, e, why) && e.format == (options_.raw ? kRawEntry : kJpegEntry) &&
          e.max_side == static_cast<uint32_t>(options_.max_side) && e.source == key && e.source_size == now.size &&
          e.source_mtime_ns == now.mtime_ns) {
        CachedImage c;
        c.path = entry;
        c.from_entry = true;
        c.info.width = static_cast<int>(e.width);
        c.info.height = static_cast<int>(e.height);
        const auto* payload = bytes.data() + e.payload_offset;
        if (options_.raw) {
          c.rgb = torch::empty({e.height, e.width, 3}, torch::kUInt8);
          std::memcpy(c.rgb.data_ptr<uint8_t>(), payload, e.payload_size);
        } else {
          c.bytes.assign(payload, payload + e.payload_size);
          const ImageInfo info = probe_image(entry, c.bytes);  // throws for anything but a valid header
          if (info.format != ImageFormat::kJpeg || info.width != c.info.width || info.height != c.info.height)
            return make(source, key, entry);
          c.info = info;
        }
        ++hits_;
        return c;
      }
    } catch (const UserError&) {
      // An entry that cannot be read or whose payload is no image is made again.
    }
  }
  return make(source, key, entry);
}

CachedImage ImageCache::rebuild(const std::string& source) const {
  const std::string key = absolute_path(source);
  return make(source, key, entry_of(key));
}

CachedImage ImageCache::make(const std::string& source, const std::string& key, const std::string& entry) const {
  const SourceStat before = stat_source(source);  // a source changed while read is read again next time
  const auto bytes = read_data_file(source, kMaxImageFileBytes, "an image file");
  const ImageInfo info = probe_image(source, bytes);
  const auto [w, h] = cached_size(info.width, info.height, options_.max_side);
  CachedImage c;
  c.path = source;
  std::vector<unsigned char> payload;
  if (!options_.raw && info.format == ImageFormat::kJpeg && w == info.width && h == info.height) {
    payload = bytes;  // a JPEG that fits is kept as it is
    c.info = info;
    c.bytes = bytes;
  } else {
    const int eighths = options_.dct_scaling ? reduced_scale(info, info.width, info.height, w, h) : 8;
    const auto rgb = decode_rgb(source, bytes, info, eighths);
    const auto resized =
        resized_crop(rgb, CropBox{0, 0, static_cast<int>(rgb.size(0)), static_cast<int>(rgb.size(1))}, h, w)
            .contiguous();
    c.info = ImageInfo{w, h, ImageFormat::kJpeg};
    if (options_.raw) {
      c.rgb = resized;
      payload.assign(resized.data_ptr<uint8_t>(), resized.data_ptr<uint8_t>() + resized.numel());
    } else {
      payload = encode_jpeg(resized, options_.quality);
      c.bytes = payload;
    }
  }
  CacheEntry e;
  e.format = options_.raw ? kRawEntry : kJpegEntry;
  e.max_side = static_cast<uint32_t>(options_.max_side);
  e.width = static_cast<uint32_t>(c.info.width);
  e.height = static_cast<uint32_t>(c.info.height);
  e.source_size = before.size;
  e.source_mtime_ns = before.mtime_ns;
  e.source = key;
  if (before.ok && e.source.size() <= kMaxPathBytes) {  // else read from the source each time
    const auto out = cache_entry_bytes(e, payload);
    write_file_atomic(entry, out.data(), out.size(), /*durable=*/false);
  }
  ++made_;
  return c;
}

}  // namespace rt
