// Decoding one image file to RGB pixels, as PIL's Image.open(f).convert("RGB") would give them
// (WebP, TIFF, BMP and netpbm decode whole in data/image_formats.h; JPEG and PNG here):
// JPEG with libjpeg-turbo's libjpeg API (baseline or progressive; greyscale replicated to RGB;
// CMYK/YCCK with PIL's Adobe polarity and its CMYK->RGB formula), PNG with libpng (grey and
// palette expanded, alpha dropped, 16 bits cut to the high byte as PIL does for RGB; PIL's own
// 16-bit greyscale conversion clips instead, which is not followed). The format is read from the file's first
// bytes, not its name. Two savings for a crop of a JPEG, with the pixels unchanged:
//  - a reduced DCT scale M/8 (1/2, 1/4, 1/8) costs about (M/8)^2 of the IDCT work: the cheap
//    first half of a downscale (see reduced_scale);
//  - only the crop's region is decoded: rows below it are never entropy-decoded, rows above
//    are skipped after entropy decoding, columns outside it skip the IDCT and colour conversion.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

namespace rt {

enum class ImageFormat { kJpeg, kPng, kWebp, kTiff, kBmp, kNetpbm };

// "JPEG", "PNG", "WebP", "TIFF", "BMP", "PBM/PGM/PPM".
const char* image_format_name(ImageFormat format);

// PIL's CMYK -> RGB (libImaging/Convert.c, cmyk2rgb) on Adobe-inverted CMYK (the stored bytes
// are 255 - ink, as Adobe's JPEGs store them): `pixels` x 4 bytes in, x 3 out.
void cmyk_inverted_to_rgb(const uint8_t* cmyk, uint8_t* rgb, int64_t pixels);

// The largest image decoded: PIL's limit (Image.MAX_IMAGE_PIXELS x 2, past which it raises
// DecompressionBombError), and at most kMaxImageBytes of RGB pixels at full size (89 Mpx).
// Note [Bounded decoding]: whatever a file's header declares, a decode holds at most the file
// (kMaxImageFileBytes), its pixels (kMaxImageBytes) and libjpeg's whole-image buffer of a
// progressive JPEG (kMaxJpegDecoderBytes): with T loader threads, T times that at most. A header
// declaring more pixels than the file's bytes can encode is refused before anything is allocated
// (a few hundred bytes cannot hold a 100-Mpx image), and a JPEG of more than kMaxJpegScans scans
// (each one a pass over the whole image: thousands take minutes) is refused as libjpeg-turbo's
// fuzzers and djpeg -maxscans refuse it.
constexpr int64_t kMaxImagePixels = 178956970;
constexpr int64_t kMaxImageBytes = int64_t{256} << 20;
constexpr int64_t kMaxImageFileBytes = int64_t{512} << 20;
constexpr int64_t kMaxJpegDecoderBytes = int64_t{1} << 30;
constexpr int kMaxJpegScans = 100;

// A rectangle of an image, in pixels, as torchvision's crop(top, left, height, width).
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
  bool operator==(const CropBox& o) const {
    return top == o.top && left == o.left && height == o.height && width == o.width;
  }
};

struct ImageInfo {
  int width = 0, height = 0;
  ImageFormat format = ImageFormat::kJpeg;
};

// The header: size and format. Throws UserError naming `path` for anything not decodable, too
// large (see Note [Bounded decoding]) or declaring more pixels than its bytes can encode.
ImageInfo probe_image(const std::string& path, const std::vector<unsigned char>& bytes);

// The side of an image of side `size` decoded at scale eighths/8 (libjpeg's rounding: up).
int scaled_size(int size, int eighths);

// The smallest scale eighths/8 of 1/8, 1/4, 1/2 (else 8/8) at which a crop of crop_w x crop_h
// full-size pixels still holds at least out_w x out_h pixels, so that only a downscale remains;
// 8 for a PNG.
int reduced_scale(const ImageInfo& info, double crop_w, double crop_h, int out_w, int out_h);

// The pixels, [height, width, 3] uint8 (interleaved RGB; a view with strides for the region of
// an image decoded whole); a JPEG at scale eighths/8 (its size then scaled_size of each side),
// the other formats always at full size (eighths must be 8). With `region` (in the decoded image's pixels), only that
// rectangle. Throws UserError naming `path` when the data is corrupt or truncated (a libjpeg
// warning, such as "premature end of data", counts as corrupt).
torch::Tensor decode_rgb(const std::string& path, const std::vector<unsigned char>& bytes, const ImageInfo& info,
                         int eighths = 8, const std::optional<CropBox>& region = std::nullopt);

}  // namespace rt
