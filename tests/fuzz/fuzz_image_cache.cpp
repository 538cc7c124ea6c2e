// libFuzzer harness for the resized-image cache's entries (data/image_cache.h, Note [Image cache
// entries]): any bytes are either refused with a reason or parsed into an entry whose payload
// lies inside the bytes, whose size is within its side and whose checksum holds, and which
// writes back to the same bytes; an accepted JPEG payload goes through the header probe and the
// decoder as a cached image would. A failed property throws std::logic_error, which libFuzzer
// reports as a finding, as it does a crash or a sanitizer report. Run by scripts/fuzz.sh
// (seeds: tests/fuzz/seeds/image_cache/, made by make_seeds.py).
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<unsigned char> bytes(data, data + size);
  rt::CacheEntry e;
  std::string why;
  if (!rt::parse_cache_entry(bytes, e, why)) {
    require(!why.empty(), "a refused entry without a reason");
    return 0;
  }
  require(e.payload_offset + e.payload_size == size, "a payload outside the bytes");
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
