// Windows BMP images read as PIL's BmpImagePlugin reads them, then converted to RGB as its
// convert("RGB") does:
//  - headers: OS/2 core (12 bytes: 16-bit sizes, 3-byte palette entries) and Windows 40, 52, 56,
//    64, 108 and 124 bytes (4-byte palette entries); a negative height stores the rows top down,
//    else bottom up; rows padded to 4 bytes;
//  - 1, 4 and 8 bits a pixel through the palette (colors from the header, else 2^bits; an index
//    past the palette is read as PIL's initial palette, a grey ramp); 16 bits as 5-5-5, 24 as
//    BGR, 32 as BGRX (alpha ignored);
//  - BI_BITFIELDS with the masks PIL knows (32 bits: BGRX, XBGR, BGXR, ABGR, RGBA, BGRA, BGAR;
//    16 bits: 5-6-5 and 5-5-5), masks after a 40-byte header or inside a larger one;
//  - RLE8 and RLE4 as PIL's BmpRleDecoder runs them (a run clipped at its row's end, delta
//    moves, absolute runs aligned to 16 bits of the file, skipped pixels index 0).
// 5- and 6-bit channels widen as PIL's unpackers do, v x 255 / 31 (or / 63). Pixel data that
// ends early, other depths, masks or compressions (JPEG, PNG inside a BMP) are refused, as PIL
// refuses them.
#include <cstring>

#include "core/errors.h"
#include "data/image_formats.h"

namespace rt {

namespace {

constexpr int kRle8 = 1, kRle4 = 2, kBitfields = 3, kRaw = 0;

uint32_t u32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint32_t u16(const unsigned char* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }

struct BmpHeader {
  int64_t width = 0, height = 0;
  bool top_down = false;
  int bits = 0;
  uint32_t compression = kRaw;
  uint32_t colors = 0;
  int palette_entry = 4;  // bytes per palette entry
  size_t palette_at = 0;  // where the palette starts
  size_t data_at = 0;     // where the pixels start
  std::string layout;     // 16/24/32 bits: "BGRX", "XBGR", ..., "BGR;15", "BGR;16", "BGR"
  int64_t stride() const { return ((width * bits + 31) >> 3) & ~int64_t{3}; }
};

BmpHeader read_header(const std::string& path, const std::vector<unsigned char>& b) {
  RT_CHECK_USER(b.size() >= 18 && b[0] == 'B' && b[1] == 'M', "{}: not a BMP image; replace or remove the file", path);
  BmpHeader h;
  const uint32_t offset = u32(&b[10]);
  const uint32_t header_size = u32(&b[14]);
  RT_CHECK_USER(header_size == 12 || header_size == 40 || header_size == 52 || header_size == 56 || header_size == 64 ||
                    header_size == 108 || header_size == 124,
                "{}: a BMP header of {} bytes, not one of 12, 40, 52, 56, 64, 108, 124; replace or remove the file",
                path, header_size);
  RT_CHECK_USER(b.size() >= 14 + size_t{header_size}, "{}: the BMP header ends early (truncated file)", path);
  const unsigned char* d = &b[18];  // the header after its size
  if (header_size == 12) {
    h.width = u16(d);
    h.height = u16(d + 2);
    h.bits = static_cast<int>(u16(d + 6));
    h.palette_entry = 3;
  } else {
    h.top_down = d[7] == 0xFF;
    h.width = static_cast<int32_t>(u32(d));
    h.height = h.top_down ? (int64_t{1} << 32) - u32(d + 4) : u32(d + 4);
    h.bits = static_cast<int>(u16(d + 10));
    h.compression = u32(d + 12);
    h.colors = u32(d + 28);
  }
  RT_CHECK_USER(h.width > 0 && h.height > 0 && h.width <= INT32_MAX && h.height <= INT32_MAX,
                "{}: a BMP of {}x{} pixels; replace or remove the file", path, h.width, h.height);
  RT_CHECK_USER(h.bits == 1 || h.bits == 4 || h.bits == 8 || h.bits == 16 || h.bits == 24 || h.bits == 32,
                "{}: a BMP of {} bits a pixel, not 1, 4, 8, 16, 24 or 32; convert it to another format", path, h.bits);
  if (h.colors == 0) h.colors = uint32_t{1} << (h.bits > 16 ? 16 : h.bits);
  size_t at = 14 + header_size;
  h.layout = h.bits == 16 ? "BGR;15" : h.bits == 24 ? "BGR" : "BGRX";
  if (h.compression == kBitfields) {
    uint32_t m[4] = {0, 0, 0, 0};
    if (header_size - 4 >= 48) {
      for (int i = 0; i < (header_size - 4 >= 52 ? 4 : 3); ++i) m[i] = u32(d + 36 + 4 * i);
    } else {
      RT_CHECK_USER(b.size() >= at + 12, "{}: the BMP's bit masks end early (truncated file)", path);
      for (int i = 0; i < 3; ++i) m[i] = u32(&b[at + 4 * i]);
      at += 12;
    }
    struct Known {
      int bits;
      uint32_t r, g, b, a;
      bool alpha;  // the 32-bit layouts compare all four masks, the others three
      const char* layout;
    };
    static const Known known[] = {
        {32, 0xFF0000, 0xFF00, 0xFF, 0x0, true, "BGRX"},        {32, 0xFF000000, 0xFF0000, 0xFF00, 0x0, true, "XBGR"},
        {32, 0xFF000000, 0xFF00, 0xFF, 0x0, true, "BGXR"},      {32, 0xFF000000, 0xFF0000, 0xFF00, 0xFF, true, "ABGR"},
        {32, 0xFF, 0xFF00, 0xFF0000, 0xFF000000, true, "RGBA"}, {32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000, true, "BGRA"},
        {32, 0xFF000000, 0xFF00, 0xFF, 0xFF0000, true, "BGAR"}, {32, 0x0, 0x0, 0x0, 0x0, true, "BGRA"},
        {24, 0xFF0000, 0xFF00, 0xFF, 0, false, "BGR"},          {16, 0xF800, 0x7E0, 0x1F, 0, false, "BGR;16"},
        {16, 0x7C00, 0x3E0, 0x1F, 0, false, "BGR;15"},
    };
    h.layout.clear();
    for (const Known& k : known) {
      if (k.bits == h.bits && k.r == m[0] && k.g == m[1] && k.b == m[2] && (!k.alpha || k.a == m[3])) {
        h.layout = k.layout;
        break;
      }
    }
    RT_CHECK_USER(!h.layout.empty(),
                  "{}: a BMP with bit masks {:#x}/{:#x}/{:#x}/{:#x} at {} bits, which PIL does not "
                  "read either; convert it to another format",
                  path, m[0], m[1], m[2], m[3], h.bits);
  } else {
    RT_CHECK_USER(h.compression == kRaw || ((h.compression == kRle8 || h.compression == kRle4) && h.bits <= 8),
                  "{}: a BMP compressed with method {} (0 none, 1 RLE8, 2 RLE4, 3 bit fields are read); convert it "
                  "to another format",
                  path, h.compression);
  }
  h.palette_at = at;
  h.data_at = offset;
  if (h.bits <= 8) {
    RT_CHECK_USER(h.colors > 0 && h.colors <= 65536, "{}: a BMP palette of {} colours; replace or remove the file",
                  path, h.colors);
    if (offset == 14 + header_size) h.data_at += static_cast<size_t>(h.palette_entry) * h.colors;
  }
  return h;
}

// 5 or 6 bits widened as PIL's BGR;15 / BGR;16 unpackers widen them.
uint8_t widen(uint32_t v, uint32_t max) { return static_cast<uint8_t>(v * 255 / max); }

// One pixel of a 16/24/32-bit row in `layout` to RGB.
void pixel(const std::string& layout, const unsigned char* p, uint8_t* rgb) {
  if (layout == "BGR;15" || layout == "BGR;16") {
    const uint32_t v = u16(p);
    const bool six = layout == "BGR;16";
    rgb[2] = widen(v & 31, 31);
    rgb[1] = six ? widen((v >> 5) & 63, 63) : widen((v >> 5) & 31, 31);
    rgb[0] = widen((v >> (six ? 11 : 10)) & 31, 31);
    return;
  }
  // Byte layouts: the position of R, G and B in the pixel's bytes.
  const size_t r = layout.find('R'), g = layout.find('G'), b = layout.find('B');
  rgb[0] = p[r];
  rgb[1] = p[g];
  rgb[2] = p[b];
}

}  // namespace

bool is_bmp(const std::vector<unsigned char>& b) { return b.size() >= 18 && b[0] == 'B' && b[1] == 'M'; }

FormatHeader probe_bmp(const std::string& path, const std::vector<unsigned char>& bytes) {
  const BmpHeader h = read_header(path, bytes);
  FormatHeader f;
  f.width = static_cast<int>(h.width);
  f.height = static_cast<int>(h.height);
  const int64_t data = h.data_at < bytes.size() ? static_cast<int64_t>(bytes.size() - h.data_at) : 0;
  // Uncompressed: whole rows. RLE has no floor (a 4-byte delta skips up to 255 rows).
  if (h.compression != kRle8 && h.compression != kRle4) f.encodable = data / h.stride() * h.width;
  return f;
}

torch::Tensor decode_bmp(const std::string& path, const std::vector<unsigned char>& b, const FormatHeader& f) {
  const BmpHeader h = read_header(path, b);
  const int64_t w = f.width, ht = f.height;
  auto rgb = torch::empty({ht, w, 3}, torch::kUInt8);
  uint8_t* out = rgb.data_ptr<uint8_t>();
  auto row_of = [&](int64_t stored) { return h.top_down ? stored : ht - 1 - stored; };  // stored row -> image row
  if (h.bits > 8) {
    const int64_t stride = h.stride(), bytes_pp = h.bits / 8;
    RT_CHECK_USER(h.data_at <= b.size() && static_cast<int64_t>(b.size() - h.data_at) >= stride * ht,
                  "{}: BMP pixel data ends early (truncated file); replace or remove it", path);
    for (int64_t s = 0; s < ht; ++s) {
      const unsigned char* src = &b[h.data_at + static_cast<size_t>(s * stride)];
      uint8_t* dst = out + row_of(s) * w * 3;
      for (int64_t x = 0; x < w; ++x) pixel(h.layout, src + x * bytes_pp, dst + x * 3);
    }
    return rgb;
  }
  // Palette: entries BGR(X); past the palette, PIL's initial palette (a grey ramp).
  RT_CHECK_USER(b.size() >= h.palette_at + static_cast<size_t>(h.palette_entry) * std::min<uint32_t>(h.colors, 256),
                "{}: the BMP palette ends early (truncated file); replace or remove it", path);
  uint8_t palette[256][3];
  for (int i = 0; i < 256; ++i) {
    if (static_cast<uint32_t>(i) < h.colors) {
      const unsigned char* e = &b[h.palette_at + static_cast<size_t>(i * h.palette_entry)];
      palette[i][0] = e[2];
      palette[i][1] = e[1];
      palette[i][2] = e[0];
    } else {
      palette[i][0] = palette[i][1] = palette[i][2] = static_cast<uint8_t>(i);
    }
  }
  std::vector<uint8_t> index(static_cast<size_t>(w * ht));  // in stored row order
  if (h.compression == kRaw) {
    const int64_t stride = h.stride();
    RT_CHECK_USER(h.data_at <= b.size() && static_cast<int64_t>(b.size() - h.data_at) >= stride * ht,
                  "{}: BMP pixel data ends early (truncated file); replace or remove it", path);
    for (int64_t s = 0; s < ht; ++s) {
      const unsigned char* src = &b[h.data_at + static_cast<size_t>(s * stride)];
      for (int64_t x = 0; x < w; ++x) {
        const int64_t bit = x * h.bits;
        index[static_cast<size_t>(s * w + x)] =
            static_cast<uint8_t>((src[bit / 8] >> (8 - h.bits - bit % 8)) & ((1 << h.bits) - 1));
      }
    }
  } else {  // PIL's BmpRleDecoder, step for step
    const bool rle4 = h.compression == kRle4;
    const size_t total = index.size();
    size_t n = 0, at = h.data_at;
    int64_t x = 0;
    auto emit = [&](uint8_t v) { index[n++] = v; };
    while (n < total) {
      if (at + 2 > b.size()) break;
      const unsigned run = b[at], byte = b[at + 1];
      at += 2;
      if (run != 0) {
        const int64_t count = x + run > w ? std::max<int64_t>(0, w - x) : run;
        for (int64_t i = 0; i < count && n < total; ++i) {
          emit(static_cast<uint8_t>(rle4 ? (i % 2 == 0 ? byte >> 4 : byte & 0x0F) : byte));
        }
        x += count;
      } else if (byte == 0) {  // end of line
        while (n % static_cast<size_t>(w) != 0) emit(0);
        x = 0;
      } else if (byte == 1) {  // end of bitmap
        break;
      } else if (byte == 2) {  // delta: right, up
        if (at + 2 > b.size()) break;
        const size_t skip = std::min(total - n, size_t{b[at]} + size_t{b[at + 1]} * static_cast<size_t>(w));
        at += 2;
        for (size_t i = 0; i < skip; ++i) emit(0);
        x = static_cast<int64_t>(n % static_cast<size_t>(w));
      } else {  // absolute: `byte` pixels follow
        const size_t count = std::min(total - n, size_t{byte});
        const size_t want = rle4 ? (count + 1) / 2 : count;
        const size_t got = std::min(want, b.size() - at);
        for (size_t i = 0; i < got; ++i) {
          if (rle4) {
            emit(static_cast<uint8_t>(b[at + i] >> 4));
            if (i * 2 + 1 < count) emit(static_cast<uint8_t>(b[at + i] & 0x0F));
          } else {
            emit(b[at + i]);
          }
        }
        at += got;
        if (got < want || n == total) break;
        x += byte;
        if (at % 2 != 0) ++at;  // to a 16-bit boundary of the file
      }
    }
    RT_CHECK_USER(n == total, "{}: BMP RLE data ends after {} of {} pixels (truncated file); replace or remove it",
                  path, n, total);
  }
  for (int64_t s = 0; s < ht; ++s) {
    uint8_t* dst = out + row_of(s) * w * 3;
    for (int64_t x = 0; x < w; ++x) std::memcpy(dst + x * 3, palette[index[static_cast<size_t>(s * w + x)]], 3);
  }
  return rgb;
}

}  // namespace rt
