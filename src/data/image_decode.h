// Decoding one image file to RGB pixels, as PIL's Image.open(f).convert("RGB") would give them:
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

enum class ImageFormat { kJpeg, kPng };

// The largest image decoded: PIL's limit (Image.MAX_IMAGE_PIXELS x 2, past which it raises
// DecompressionBombError): a corrupt or hostile header cannot make a loader thread allocate
// gigabytes.
constexpr int64_t kMaxImagePixels = 178956970;

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

// The header: size and format. Throws UserError naming `path` for anything not decodable.
ImageInfo probe_image(const std::string& path, const std::vector<unsigned char>& bytes);

// The side of an image of side `size` decoded at scale eighths/8 (libjpeg's rounding: up).
int scaled_size(int size, int eighths);

// The smallest scale eighths/8 of 1/8, 1/4, 1/2 (else 8/8) at which a crop of crop_w x crop_h
// full-size pixels still holds at least out_w x out_h pixels, so that only a downscale remains;
// 8 for a PNG.
int reduced_scale(const ImageInfo& info, double crop_w, double crop_h, int out_w, int out_h);

// The pixels, [height, width, 3] uint8 (interleaved RGB; a view with strides for a PNG's
// region); a JPEG at scale eighths/8 (its size then scaled_size of each side), a PNG always at
// full size (eighths must be 8). With `region` (in the decoded image's pixels), only that
// rectangle. Throws UserError naming `path` when the data is corrupt or truncated (a libjpeg
// warning, such as "premature end of data", counts as corrupt).
torch::Tensor decode_rgb(const std::string& path, const std::vector<unsigned char>& bytes, const ImageInfo& info,
                         int eighths = 8, const std::optional<CropBox>& region = std::nullopt);

}  // namespace rt
