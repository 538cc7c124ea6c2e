#include "data/image_decode.h"

#include <png.h>

#include "data/jpeg_errors.h"  // jpeglib.h, after <cstdio>
// clang-format off
#include <jerror.h>  // after jpeglib.h
// clang-format on

#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <limits>

#include "core/errors.h"
#include "data/image_formats.h"

namespace rt {

void cmyk_inverted_to_rgb(const uint8_t* cmyk, uint8_t* rgb, int64_t pixels) {
  for (int64_t p = 0; p < pixels; ++p, cmyk += 4, rgb += 3) {
    const int nk = cmyk[3];  // stored inverted: 255 - K
    for (int c = 0; c < 3; ++c) {
      const int ink = 255 - cmyk[c];
      const int tmp = ink * nk + 128;
      const int v = nk - (((tmp >> 8) + tmp) >> 8);
      rgb[c] = static_cast<uint8_t>(std::clamp(v, 0, 255));
    }
  }
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kTiff:
      return "TIFF";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kNetpbm:
      return "PBM/PGM/PPM";
  }
  return "image";
}

namespace {

bool is_png(const std::vector<unsigned char>& bytes) {
  static const unsigned char kMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return bytes.size() >= 8 && std::memcmp(bytes.data(), kMagic, 8) == 0;
}

bool is_jpeg(const std::vector<unsigned char>& bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

// A fatal error jumps back to the decode's setjmp with the message (data/jpeg_errors.h). Of the
// warnings, the one PIL also refuses ("image file is truncated": libjpeg's "premature end of
// JPEG file") is an error; the others (extraneous bytes, a restart marker out of place), which
// PIL decodes through, are not.
[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  if (cinfo->err->msg_code != JERR_NO_BACKING_STORE) jpeg_fail_with_its_message(cinfo);
  auto* e = jpeg_errors_of(cinfo);  // past mem->max_memory_to_use
  std::snprintf(e->message, sizeof e->message, "its decoding needs more than %lld MiB",
                static_cast<long long>(kMaxJpegDecoderBytes >> 20));
  jpeg_jump_back(cinfo);
}

// libjpeg's progress monitor, called as each scan starts and each row of it is read: past
// kMaxJpegScans scans the decode stops (Note [Bounded decoding]).
void jpeg_count_scans(j_common_ptr cinfo) {
  const auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* e = jpeg_errors_of(cinfo);
    std::snprintf(e->message, sizeof e->message, "more than %d scans, as no encoder writes them", kMaxJpegScans);
    jpeg_jump_back(cinfo);
  }
}

void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_fail(cinfo);
}

struct JpegHeader {
  int width = 0, height = 0;
  bool arithmetic = false;  // arithmetic-coded (its data can be denser than a bit per block)
};

// The decode, C-style: nothing with a destructor lives between the setjmp and a longjmp out of
// libjpeg. Reads the header (and with `out`, the pixels of `region` at scale eighths/8 into
// out[region.height][region.width][3], `row` holding one output row of up to 4 components).
// False on an error, with the message in errors->message.
bool run_jpeg(const unsigned char* data, size_t size, int eighths, const CropBox* region, uint8_t* out, uint8_t* row,
              JpegHeader* header, JpegErrors* errors) {
  jpeg_decompress_struct cinfo{};
  jpeg_progress_mgr progress{};
  progress.progress_monitor = jpeg_count_scans;
  cinfo.err = jpeg_std_error(&errors->mgr);
  errors->mgr.error_exit = jpeg_fail;
  errors->mgr.emit_message = jpeg_message;
  if (setjmp(errors->jump)) {  // before jpeg_create_decompress, which may fail too (libjpeg's example.c)
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.mem->max_memory_to_use = static_cast<long>(kMaxJpegDecoderBytes);  // a progressive JPEG's coefficients
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  header->width = static_cast<int>(cinfo.image_width);
  header->height = static_cast<int>(cinfo.image_height);
  header->arithmetic = cinfo.arith_code != 0;
  if (out != nullptr) {
    const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.scale_num = static_cast<unsigned>(eighths);
    cinfo.scale_denom = 8;
    cinfo.dct_method = JDCT_ISLOW;  // the integer IDCT PIL uses, so that pixels equal PIL's
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    // Columns: libjpeg decodes the columns asked for (the left edge moved down to an iMCU
    // boundary) as if their edges were the image's, where chroma upsampling lacks its outer
    // neighbour: ask for 16 columns more on each side (an iMCU at most), so that the region's
    // own pixels are those of the whole image.
    const auto margin = [](int v) { return static_cast<JDIMENSION>(std::max(v, 0)); };
    JDIMENSION x0 = margin(region->left - 16);
    JDIMENSION width =
        std::min<JDIMENSION>(cinfo.output_width, static_cast<JDIMENSION>(region->left + region->width) + 16) - x0;
    if (width < cinfo.output_width) jpeg_crop_scanline(&cinfo, &x0, &width);
    if (region->top > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(region->top));
    const int components = cmyk ? 4 : 3;
    const uint8_t* first = row + (static_cast<JDIMENSION>(region->left) - x0) * components;
    for (int y = 0; y < region->height; ++y) {
      JSAMPROW r = row;
      jpeg_read_scanlines(&cinfo, &r, 1);
      uint8_t* dst = out + static_cast<int64_t>(y) * region->width * 3;
      if (cmyk) {
        cmyk_inverted_to_rgb(first, dst, region->width);  // R = (255 - K) - C (255 - K) / 255, PIL's rounding
      } else {
        std::memcpy(dst, first, static_cast<size_t>(region->width) * 3);
      }
    }
    // Rows below the region are never decoded.
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

torch::Tensor decode_jpeg(const std::string& path, const std::vector<unsigned char>& bytes, const ImageInfo& info,
                          int eighths, const std::optional<CropBox>& region) {
  const int w = scaled_size(info.width, eighths), h = scaled_size(info.height, eighths);
  const CropBox r = region.value_or(CropBox{0, 0, h, w});
  TORCH_INTERNAL_ASSERT(r.top >= 0 && r.left >= 0 && r.height > 0 && r.width > 0 && r.top + r.height <= h &&
                        r.left + r.width <= w);
  auto out = torch::empty({r.height, r.width, 3}, torch::kUInt8);
  std::vector<uint8_t> row(static_cast<size_t>(w) * 4);
  JpegHeader header;
  JpegErrors errors;
  RT_CHECK_USER(
      run_jpeg(bytes.data(), bytes.size(), eighths, &r, out.data_ptr<uint8_t>(), row.data(), &header, &errors),
      "{}: JPEG data is corrupt or truncated ({}); replace or remove the file", path, errors.message);
  return out;
}

// PNG through libpng's own API (its simplified API would gamma-correct, and take 16-bit data
// as linear): palette and low-bit grey expanded, 16 bits cut to their high byte and alpha
// dropped (both as PIL's convert("RGB") does), grey repeated, interlacing undone, no gamma.
// Errors jump back like libjpeg's, to a setjmp with nothing destructible alive past it.
struct PngSource {
  const unsigned char* data;
  size_t size, pos;
};

struct PngErrors {
  std::jmp_buf jump;
  char message[256];
};

[[noreturn]] void png_fail(png_structp png, png_const_charp message) {
  auto* e = static_cast<PngErrors*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof e->message, "%s", message);
  std::longjmp(e->jump, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}  // an ancillary chunk's CRC, as PIL ignores

void png_read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "the data ends early (truncated file)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

struct PngHeader {
  int width = 0, height = 0;
  int64_t raw_bytes = 0;  // the decompressed image data: rows of the stored bit depth, a filter byte each
};

// libpng's own bounds, explicit: its default side limit, and at most 128 ancillary chunks kept
// and 8 MiB for any one (an iCCP or zTXt chunk decompresses into that).
constexpr png_uint_32 kMaxPngSide = 1000000;
constexpr png_uint_32 kMaxPngChunks = 128;
constexpr png_alloc_size_t kMaxPngChunkBytes = 8 << 20;

// Reads the header into `header` and, with `rows` (height pointers to width x 3 bytes), the
// pixels. False on an error, with the message in errors->message.
bool run_png(PngSource* source, png_bytepp rows, PngHeader* header, PngErrors* errors) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, errors, png_fail, png_ignore_warning);
  if (png == nullptr) {
    std::snprintf(errors->message, sizeof errors->message, "libpng could not start");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(errors->message, sizeof errors->message, "libpng could not start");
    return false;
  }
  if (setjmp(errors->jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_user_limits(png, kMaxPngSide, kMaxPngSide);
  png_set_chunk_cache_max(png, kMaxPngChunks);
  png_set_chunk_malloc_max(png, kMaxPngChunkBytes);
  png_set_read_fn(png, source, png_read_bytes);
  png_read_info(png, info);
  header->width = static_cast<int>(png_get_image_width(png, info));
  header->height = static_cast<int>(png_get_image_height(png, info));
  header->raw_bytes = static_cast<int64_t>(header->height) * (static_cast<int64_t>(png_get_rowbytes(png, info)) + 1);
  if (rows != nullptr) {
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != static_cast<size_t>(header->width) * 3) png_error(png, "unexpected row layout");
    png_read_image(png, rows);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

torch::Tensor decode_png(const std::string& path, const std::vector<unsigned char>& bytes, const ImageInfo& info) {
  auto rgb = torch::empty({info.height, info.width, 3}, torch::kUInt8);
  std::vector<png_bytep> rows(static_cast<size_t>(info.height));
  uint8_t* base = rgb.data_ptr<uint8_t>();
  for (int y = 0; y < info.height; ++y) rows[static_cast<size_t>(y)] = base + static_cast<int64_t>(y) * info.width * 3;
  PngSource source{bytes.data(), bytes.size(), 0};
  PngErrors errors{};
  PngHeader header;
  RT_CHECK_USER(
      run_png(&source, rows.data(), &header, &errors) && header.width == info.width && header.height == info.height,
      "{}: PNG data is corrupt or truncated ({}); replace or remove the file", path, errors.message);
  return rgb;
}

}  // namespace

ImageInfo probe_image(const std::string& path, const std::vector<unsigned char>& bytes) {
  ImageInfo info;
  // Note [Bounded decoding]: the most pixels the file's bytes can encode. PNG: deflate expands a
  // byte to at most 1032. Huffman-coded JPEG: each scan codes every 8x8 block of its components
  // in at least a bit, and a component covers at least 1/16 of the image (sampling factors up to
  // 4): at most 8192 pixels a byte. Arithmetic coding has no such floor.
  int64_t encodable = std::numeric_limits<int64_t>::max();
  const auto file_bytes = static_cast<int64_t>(bytes.size());
  if (is_png(bytes)) {
    PngSource source{bytes.data(), bytes.size(), 0};
    PngErrors errors{};
    PngHeader header;
    RT_CHECK_USER(run_png(&source, nullptr, &header, &errors),
                  "{}: not a decodable PNG ({}); replace or remove the file", path, errors.message);
    info.width = header.width;
    info.height = header.height;
    info.format = ImageFormat::kPng;
    if (header.raw_bytes > 1032 * file_bytes) encodable = 0;
  } else if (is_jpeg(bytes)) {
    JpegHeader header;
    JpegErrors errors;
    RT_CHECK_USER(run_jpeg(bytes.data(), bytes.size(), 8, nullptr, nullptr, nullptr, &header, &errors),
                  "{}: not a decodable JPEG ({}); replace or remove the file", path, errors.message);
    info.width = header.width;
    info.height = header.height;
    info.format = ImageFormat::kJpeg;
    if (!header.arithmetic) encodable = 8192 * file_bytes;
  } else {
    FormatHeader header;
    if (is_webp(bytes)) {
      header = probe_webp(path, bytes);
      info.format = ImageFormat::kWebp;
    } else if (is_tiff(bytes)) {
      header = probe_tiff(path, bytes);
      info.format = ImageFormat::kTiff;
    } else if (is_bmp(bytes)) {
      header = probe_bmp(path, bytes);
      info.format = ImageFormat::kBmp;
    } else {
      RT_CHECK_USER(is_netpbm(bytes),
                    "{}: not an image ringtrain reads (JPEG, PNG, WebP, TIFF, BMP, PBM/PGM/PPM) ({} bytes{}); replace "
                    "or remove the file",
                    path, bytes.size(), bytes.empty() ? ", empty" : "");
      header = probe_netpbm(path, bytes);
      info.format = ImageFormat::kNetpbm;
    }
    info.width = header.width;
    info.height = header.height;
    encodable = header.encodable;
  }
  const int64_t pixels = static_cast<int64_t>(info.width) * info.height;
  const char* format = image_format_name(info.format);
  RT_CHECK_USER(pixels <= kMaxImagePixels,
                "{}: image is {}x{}, more than {} pixels (PIL refuses such a 'decompression bomb' too); "
                "resize or remove it",
                path, info.width, info.height, kMaxImagePixels);
  RT_CHECK_USER(pixels * 3 <= kMaxImageBytes,
                "{}: image is {}x{}, {} MiB of RGB pixels, more than the {} MiB decoded per image; resize or "
                "remove it",
                path, info.width, info.height, pixels * 3 >> 20, kMaxImageBytes >> 20);
  RT_CHECK_USER(info.width > 0 && info.height > 0,
                "{}: not a decodable {} (no image size in its header); replace or "
                "remove the file",
                path, format);
  RT_CHECK_USER(pixels <= encodable,
                "{}: declares a {}x{} image in only {} bytes, more than {} data that short can encode; the file "
                "is corrupt or truncated: replace or remove it",
                path, info.width, info.height, file_bytes, format);
  return info;
}

int scaled_size(int size, int eighths) { return (size * eighths + 7) / 8; }

int reduced_scale(const ImageInfo& info, double crop_w, double crop_h, int out_w, int out_h) {
  if (info.format != ImageFormat::kJpeg) return 8;
  int best = 8;
  // 1/2, 1/4, 1/8: the scales with SIMD IDCTs in libjpeg-turbo (and those of PIL's draft()).
  for (int m = 4; m >= 1; m /= 2) {
    // The crop at scale m/8 spans crop * m/8 pixels; keep at least the output's size.
    if (crop_w * m / 8.0 < out_w || crop_h * m / 8.0 < out_h) break;
    best = m;
  }
  return best;
}

torch::Tensor decode_rgb(const std::string& path, const std::vector<unsigned char>& bytes, const ImageInfo& info,
                         int eighths, const std::optional<CropBox>& region) {
  TORCH_INTERNAL_ASSERT(eighths >= 1 && eighths <= 8 && (eighths == 8 || info.format == ImageFormat::kJpeg));
  if (info.format == ImageFormat::kJpeg) return decode_jpeg(path, bytes, info, eighths, region);
  const FormatHeader header{info.width, info.height};
  torch::Tensor rgb;
  switch (info.format) {
    case ImageFormat::kPng:
      rgb = decode_png(path, bytes, info);
      break;
    case ImageFormat::kWebp:
      rgb = decode_webp(path, bytes, header);
      break;
    case ImageFormat::kTiff:
      rgb = decode_tiff(path, bytes, header);
      break;
    case ImageFormat::kBmp:
      rgb = decode_bmp(path, bytes, header);
      break;
    default:
      rgb = decode_netpbm(path, bytes, header);
      break;
  }
  if (!region) return rgb;
  return rgb.narrow(0, region->top, region->height).narrow(1, region->left, region->width);
}

}  // namespace rt
