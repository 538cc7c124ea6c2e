// libFuzzer harness for the resized-image cache's entries (data/image_cache.h, Note [Image cache
// entries]): any bytes are either refused with a reason or parsed into an entry whose payload
// lies inside the bytes, whose size is within its side and whose checksum holds, and which
// writes back to the same bytes; an accepted JPEG payload goes through the header probe and the
// decoder as a cached image would. A failed property throws std::logic_error, which libFuzzer
// reports as a finding, as it does a crash or a sanitizer report. Run by scripts/fuzz.sh
// (seeds: tests/fuzz/seeds/image_cache/, made by make_seeds.py).
//
// A mutation seldom keeps an entry's CRC-32 valid, so inputs whose first byte is odd are built
// into an entry instead (cache_entry_bytes: the fields from the next 9 bytes, the payload from
// the rest, its checksum computed): those reach the checks past the checksum, and their JPEG
// payloads the decoder, as often as the raw inputs reach the header checks. Such an entry parses
// back to the fields it was built from, or is refused with a reason.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/errors.h"
#include "data/image_cache.h"
#include "data/image_decode.h"

namespace {

void require(bool cond, const char* what) {
  if (!cond) throw std::logic_error(what);
}

// The entry built from a structured input: byte 1 the format, bytes 2-7 the side, width and
// height (u16 each), byte 8 the source's path length, then the payload.
std::vector<unsigned char> built_entry(const uint8_t* data, size_t size, rt::CacheEntry& fields) {
  const auto u16 = [&](size_t i) { return static_cast<uint32_t>(data[i] | (data[i + 1] << 8)); };
  fields.format = 1 + data[1] % 2;
  fields.max_side = u16(2);
  fields.width = u16(4);
  fields.height = u16(6);
  fields.source = std::string(data[8] % 32, 's');
  fields.source_size = size;
  fields.source_mtime_ns = static_cast<int64_t>(size) * 1000003;
  const std::vector<unsigned char> payload(data + 9, data + size);
  return rt::cache_entry_bytes(fields, payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rt::CacheEntry fields;
  const bool structured = size >= 9 && (data[0] & 1);
  const std::vector<unsigned char> bytes =
      structured ? built_entry(data, size, fields) : std::vector<unsigned char>(data, data + size);
  size = bytes.size();
  rt::CacheEntry e;
  std::string why;
  if (!rt::parse_cache_entry(bytes, e, why)) {
    require(!why.empty(), "a refused entry without a reason");
    return 0;
  }
  require(e.payload_offset + e.payload_size == size, "a payload outside the bytes");
  if (structured) {
    require(e.format == fields.format && e.max_side == fields.max_side && e.width == fields.width &&
                e.height == fields.height && e.source == fields.source && e.source_size == fields.source_size &&
                e.source_mtime_ns == fields.source_mtime_ns,
            "a built entry that parses to other fields");
  }
  require(e.width > 0 && e.height > 0 && e.width <= e.max_side && e.height <= e.max_side, "a size outside its side");
  const std::vector<unsigned char> payload(bytes.begin() + static_cast<std::ptrdiff_t>(e.payload_offset), bytes.end());
  require(rt::cache_entry_bytes(e, payload) == bytes, "an entry that does not write back to its bytes");
  if (e.format == 1) {
    try {
      const rt::ImageInfo info = rt::probe_image("entry", payload);
      rt::decode_rgb("entry", payload, info, 8);
    } catch (const rt::UserError&) {
    }
  }
  return 0;
}
