// The image formats decoded whole, besides JPEG and PNG (image_decode.cpp dispatches to them by
// the file's first bytes): WebP (libwebp), TIFF (libtiff), netpbm (PPM/PGM/PBM) and BMP, the
// rest of torchvision's IMG_EXTENSIONS. Each gives the pixels PIL's Image.open(f).convert("RGB")
// gives, as [height, width, 3] uint8, and refuses what it does not read with a UserError naming
// the file. probe_* reads only the header: the size, and the most pixels the file's bytes can
// encode (Note [Bounded decoding] in image_decode.h; INT64_MAX where the format has no such
// floor); image_decode.cpp checks both against the limits before decode_* allocates anything.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace rt {

struct FormatHeader {
  int width = 0, height = 0;
  int64_t encodable = INT64_MAX;  // the most pixels a file of its size can hold
};

bool is_webp(const std::vector<unsigned char>& bytes);
FormatHeader probe_webp(const std::string& path, const std::vector<unsigned char>& bytes);
torch::Tensor decode_webp(const std::string& path, const std::vector<unsigned char>& bytes, const FormatHeader& h);

bool is_tiff(const std::vector<unsigned char>& bytes);
FormatHeader probe_tiff(const std::string& path, const std::vector<unsigned char>& bytes);
torch::Tensor decode_tiff(const std::string& path, const std::vector<unsigned char>& bytes, const FormatHeader& h);

bool is_netpbm(const std::vector<unsigned char>& bytes);
FormatHeader probe_netpbm(const std::string& path, const std::vector<unsigned char>& bytes);
torch::Tensor decode_netpbm(const std::string& path, const std::vector<unsigned char>& bytes, const FormatHeader& h);

bool is_bmp(const std::vector<unsigned char>& bytes);
FormatHeader probe_bmp(const std::string& path, const std::vector<unsigned char>& bytes);
torch::Tensor decode_bmp(const std::string& path, const std::vector<unsigned char>& bytes, const FormatHeader& h);

}  // namespace rt
