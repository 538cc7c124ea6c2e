// TIFF images through libtiff (any compression it decodes: none, LZW, deflate, PackBits, JPEG,
// CCITT...), the first page, as PIL's TiffImagePlugin reads them and convert("RGB") converts:
//  - grey (min-is-black, or min-is-white inverted) of 1, 2, 4 or 8 bits, widened to 8 bits as
//    PIL's unpackers widen them (x 255 / (2^bits - 1)), an extra sample (alpha) dropped;
//  - RGB of 8 bits with or without extra samples: unassociated alpha and unspecified extras
//    dropped, associated (premultiplied) alpha divided out as PIL's RGBa unpacker does;
//  - palette of 1, 2, 4 or 8 bits through the colour map's high bytes;
//  - CMYK (separated, 4 inks) of 8 bits with PIL's CMYK -> RGB formula;
//  - YCbCr compressed as JPEG, converted to RGB by libjpeg (libtiff's JPEGCOLORMODE_RGB, as PIL
//    asks for).
// Rows are read as stored (strips or tiles, contiguous samples), top row first: like PIL, the
// Orientation tag is not applied. 16-bit, floating-point, planar-separate and other YCbCr
// images are refused with a line saying so. libtiff reads from memory, reports errors through a
// handler of this decode (not stderr), and allocates at most kMaxTiffAlloc bytes at once.
#include <tiffio.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/errors.h"
#include "data/image_decode.h"
#include "data/image_formats.h"

namespace rt {

namespace {

constexpr tmsize_t kMaxTiffAlloc = tmsize_t{256} << 20;

struct MemoryFile {
  const unsigned char* data;
  uint64_t size, pos;
  char error[256];
};

tmsize_t tiff_read(thandle_t h, void* buf, tmsize_t n) {
  auto* f = static_cast<MemoryFile*>(h);
  if (n < 0) return 0;
  const uint64_t take = std::min<uint64_t>(static_cast<uint64_t>(n), f->size - f->pos);
  std::memcpy(buf, f->data + f->pos, take);
  f->pos += take;
  return static_cast<tmsize_t>(take);
}
tmsize_t tiff_write(thandle_t, void*, tmsize_t) { return 0; }
toff_t tiff_seek(thandle_t h, toff_t off, int whence) {
  auto* f = static_cast<MemoryFile*>(h);
  const uint64_t base = whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->size : 0;
  if (off > f->size || base + off > f->size) return static_cast<toff_t>(-1);
  f->pos = base + off;
  return f->pos;
}
int tiff_close(thandle_t) { return 0; }
toff_t tiff_size(thandle_t h) { return static_cast<MemoryFile*>(h)->size; }
int tiff_map(thandle_t, void**, toff_t*) { return 0; }
void tiff_unmap(thandle_t, void*, toff_t) {}

int tiff_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* f = static_cast<MemoryFile*>(user);
  if (f->error[0] == '\0') {  // the first error is the cause
    char text[200];
    std::vsnprintf(text, sizeof text, fmt, ap);
    std::snprintf(f->error, sizeof f->error, "%s%s%s", module ? module : "", module ? ": " : "", text);
  }
  return 1;
}
int tiff_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }  // unknown tags and the like

struct Tiff {
  MemoryFile file;
  std::unique_ptr<TIFF, void (*)(TIFF*)> tif{nullptr, TIFFClose};
};

// Opens the first page; throws naming `path` if libtiff cannot.
void open_tiff(const std::string& path, const std::vector<unsigned char>& bytes, Tiff& t) {
  t.file = MemoryFile{bytes.data(), bytes.size(), 0, {0}};
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> options(TIFFOpenOptionsAlloc(), TIFFOpenOptionsFree);
  RT_CHECK_USER(options != nullptr, "{}: libtiff could not start", path);
  TIFFOpenOptionsSetMaxSingleMemAlloc(options.get(), kMaxTiffAlloc);
  TIFFOpenOptionsSetErrorHandlerExtR(options.get(), tiff_error, &t.file);
  TIFFOpenOptionsSetWarningHandlerExtR(options.get(), tiff_warning, &t.file);
  t.tif.reset(TIFFClientOpenExt(path.c_str(), "rm", &t.file, tiff_read, tiff_write, tiff_seek, tiff_close, tiff_size,
                                tiff_map, tiff_unmap, options.get()));
  RT_CHECK_USER(t.tif != nullptr, "{}: not a decodable TIFF ({}); replace or remove the file", path, t.file.error);
}

struct Layout {
  uint32_t width = 0, height = 0;
  uint16_t bits = 1, samples = 1, photometric = 0, planar = PLANARCONFIG_CONTIG, format = SAMPLEFORMAT_UINT;
  uint16_t compression = COMPRESSION_NONE;
  uint16_t extra_count = 0;
  const uint16_t* extra = nullptr;
};

Layout read_layout(const std::string& path, TIFF* tif) {
  Layout l;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &l.width);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &l.height);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &l.bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &l.samples);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &l.planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &l.format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &l.compression);
  TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &l.extra_count, &l.extra);
  RT_CHECK_USER(TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &l.photometric),
                "{}: a TIFF without a photometric interpretation; replace or remove the file", path);
  return l;
}

// What is read, and how a row of samples becomes RGB.
enum class Kind { kGrey, kGreyInverted, kRgb, kRgbPremultiplied, kPalette, kCmyk };

Kind classify(const std::string& path, const Layout& l) {
  const auto refuse = [&](const std::string& what) {
    throw UserError(
        fmt::format("{}: a TIFF of {} ({} bits a sample, {} samples a pixel), which ringtrain does not "
                    "read; convert it to 8-bit RGB (or PNG)",
                    path, what, l.bits, l.samples));
  };
  if (l.format != SAMPLEFORMAT_UINT) refuse("signed or floating-point samples");
  if (l.planar != PLANARCONFIG_CONTIG && l.samples > 1) refuse("separate colour planes");
  const int extras = l.samples;
  switch (l.photometric) {
    case PHOTOMETRIC_MINISBLACK:
    case PHOTOMETRIC_MINISWHITE:
      if (!(l.bits == 1 || l.bits == 2 || l.bits == 4 || l.bits == 8) || extras > 2) refuse("grey");
      return l.photometric == PHOTOMETRIC_MINISWHITE ? Kind::kGreyInverted : Kind::kGrey;
    case PHOTOMETRIC_RGB:
      if (l.bits != 8 || l.samples < 3 || l.samples > 4) refuse("RGB");
      return l.samples == 4 && l.extra_count == 1 && l.extra[0] == EXTRASAMPLE_ASSOCALPHA ? Kind::kRgbPremultiplied
                                                                                          : Kind::kRgb;
    case PHOTOMETRIC_PALETTE:
      if (!(l.bits == 1 || l.bits == 2 || l.bits == 4 || l.bits == 8) || l.samples != 1) refuse("palette colour");
      return Kind::kPalette;
    case PHOTOMETRIC_SEPARATED:
      if (l.bits != 8 || l.samples != 4) refuse("separated (CMYK) colour");
      return Kind::kCmyk;
    case PHOTOMETRIC_YCBCR:
      if (l.compression != COMPRESSION_JPEG || l.bits != 8 || l.samples != 3) refuse("YCbCr not compressed as JPEG");
      return Kind::kRgb;  // libjpeg converts it (JPEGCOLORMODE_RGB)
    default:
      refuse(fmt::format("photometric interpretation {}", l.photometric));
  }
  return Kind::kRgb;
}

}  // namespace

bool is_tiff(const std::vector<unsigned char>& b) {
  return b.size() >= 8 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                           (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43)));
}

FormatHeader probe_tiff(const std::string& path, const std::vector<unsigned char>& bytes) {
  Tiff t;
  open_tiff(path, bytes, t);
  const Layout l = read_layout(path, t.tif.get());
  classify(path, l);
  FormatHeader f;
  RT_CHECK_USER(l.width > 0 && l.height > 0 && l.width <= INT32_MAX && l.height <= INT32_MAX,
                "{}: a TIFF of {}x{} pixels; replace or remove the file", path, l.width, l.height);
  f.width = static_cast<int>(l.width);
  f.height = static_cast<int>(l.height);
  if (l.compression == COMPRESSION_NONE) {  // every sample stored: rows of whole bytes
    const int64_t row = (static_cast<int64_t>(l.width) * l.bits * l.samples + 7) / 8;
    f.encodable = static_cast<int64_t>(bytes.size()) / row * l.width;
  }
  return f;
}

torch::Tensor decode_tiff(const std::string& path, const std::vector<unsigned char>& bytes, const FormatHeader& f) {
  Tiff t;
  open_tiff(path, bytes, t);
  TIFF* tif = t.tif.get();
  const Layout l = read_layout(path, tif);
  const Kind kind = classify(path, l);
  RT_CHECK_USER(static_cast<int>(l.width) == f.width && static_cast<int>(l.height) == f.height,
                "{}: the TIFF changed while read; run again", path);
  if (l.photometric == PHOTOMETRIC_YCBCR) TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
  const int samples = l.photometric == PHOTOMETRIC_YCBCR ? 3 : l.samples;
  const int64_t w = f.width, h = f.height;
  // The whole image's samples, packed rows of (w x samples x bits + 7) / 8 bytes.
  const int64_t row_bytes = (w * samples * l.bits + 7) / 8;
  std::vector<uint8_t> raw(static_cast<size_t>(row_bytes * h));
  if (TIFFIsTiled(tif)) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    const tmsize_t tile_bytes = TIFFTileSize(tif), tile_row = TIFFTileRowSize(tif);
    RT_CHECK_USER(tw > 0 && th > 0 && tile_bytes > 0 && tile_row * static_cast<tmsize_t>(th) <= tile_bytes &&
                      tile_row == (static_cast<int64_t>(tw) * samples * l.bits + 7) / 8 && l.bits % 8 == 0,
                  "{}: a TIFF of tiles {}x{} that libtiff cannot lay out ({}); convert it to a striped TIFF or PNG",
                  path, tw, th, t.file.error);
    std::vector<uint8_t> tile(static_cast<size_t>(tile_bytes));
    const int64_t bpp = samples * l.bits / 8;
    for (uint32_t y0 = 0; y0 < h; y0 += th) {
      for (uint32_t x0 = 0; x0 < w; x0 += tw) {
        RT_CHECK_USER(TIFFReadTile(tif, tile.data(), x0, y0, 0, 0) >= 0,
                      "{}: TIFF data is corrupt or truncated ({}); replace or remove the file", path, t.file.error);
        const int64_t rows = std::min<int64_t>(th, h - y0), cols = std::min<int64_t>(tw, w - x0);
        for (int64_t y = 0; y < rows; ++y) {
          std::memcpy(&raw[static_cast<size_t>((y0 + y) * row_bytes + x0 * bpp)],
                      &tile[static_cast<size_t>(y * tile_row)], static_cast<size_t>(cols * bpp));
        }
      }
    }
  } else {
    RT_CHECK_USER(TIFFScanlineSize(tif) == row_bytes,
                  "{}: a TIFF whose rows libtiff lays out differently ({} bytes, not {}); convert it to PNG", path,
                  static_cast<int64_t>(TIFFScanlineSize(tif)), row_bytes);
    for (uint32_t y = 0; y < h; ++y) {
      RT_CHECK_USER(TIFFReadScanline(tif, &raw[static_cast<size_t>(y * row_bytes)], y, 0) >= 0,
                    "{}: TIFF data is corrupt or truncated ({}); replace or remove the file", path, t.file.error);
    }
  }
  RT_CHECK_USER(t.file.error[0] == '\0', "{}: TIFF data is corrupt ({}); replace or remove the file", path,
                t.file.error);

  uint16_t *red = nullptr, *green = nullptr, *blue = nullptr;
  if (kind == Kind::kPalette) {
    RT_CHECK_USER(TIFFGetField(tif, TIFFTAG_COLORMAP, &red, &green, &blue),
                  "{}: a palette TIFF without a colour map; replace or remove the file", path);
  }
  auto rgb = torch::empty({h, w, 3}, torch::kUInt8);
  uint8_t* out = rgb.data_ptr<uint8_t>();
  const int max = (1 << l.bits) - 1;
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = &raw[static_cast<size_t>(y * row_bytes)];
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* o = out + (y * w + x) * 3;
      if (l.bits < 8) {  // grey or palette: one sample a pixel (an alpha of under 8 bits is refused above)
        const int64_t bit = x * samples * l.bits;
        const int v = (row[bit / 8] >> (8 - l.bits - bit % 8)) & max;
        if (kind == Kind::kPalette) {
          o[0] = static_cast<uint8_t>(red[v] >> 8);
          o[1] = static_cast<uint8_t>(green[v] >> 8);
          o[2] = static_cast<uint8_t>(blue[v] >> 8);
        } else {
          const int g = v * 255 / max;
          std::memset(o, kind == Kind::kGreyInverted ? 255 - g : g, 3);
        }
        continue;
      }
      const uint8_t* s = row + x * samples;
      switch (kind) {
        case Kind::kGrey:
        case Kind::kGreyInverted:
          std::memset(o, kind == Kind::kGreyInverted ? 255 - s[0] : s[0], 3);
          break;
        case Kind::kPalette:
          o[0] = static_cast<uint8_t>(red[s[0]] >> 8);
          o[1] = static_cast<uint8_t>(green[s[0]] >> 8);
          o[2] = static_cast<uint8_t>(blue[s[0]] >> 8);
          break;
        case Kind::kRgb:
          std::memcpy(o, s, 3);
          break;
        case Kind::kRgbPremultiplied: {  // PIL's unpackRGBa
          const int a = s[3];
          for (int c = 0; c < 3; ++c)
            o[c] = a == 0 ? 0 : a == 255 ? s[c] : static_cast<uint8_t>(std::min(255, s[c] * 255 / a));
          break;
        }
        case Kind::kCmyk: {
          const uint8_t inverted[4] = {static_cast<uint8_t>(255 - s[0]), static_cast<uint8_t>(255 - s[1]),
                                       static_cast<uint8_t>(255 - s[2]), static_cast<uint8_t>(255 - s[3])};
          cmyk_inverted_to_rgb(inverted, o, 1);
          break;
        }
      }
    }
  }
  return rgb;
}

}  // namespace rt
