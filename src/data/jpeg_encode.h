// Encoding RGB pixels as a JPEG (libjpeg-turbo's libjpeg API), for the resized-image cache
// (data/image_cache.h): baseline, 4:2:0 chroma as PIL's Image.save(quality=Q) writes it.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace rt {

// `rgb` ([h, w, 3] uint8, any strides) as a JPEG file's bytes at `quality` (1-100). Throws
// UserError with libjpeg's message if it cannot (it only fails on out-of-memory).
std::vector<unsigned char> encode_jpeg(const torch::Tensor& rgb, int quality);

}  // namespace rt
