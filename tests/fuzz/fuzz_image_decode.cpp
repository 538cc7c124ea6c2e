// libFuzzer harness for the image decoders (data/image_decode.h): the input's first 4 bytes
// choose what is decoded, the rest is the file (JPEG, PNG, WebP, TIFF, BMP or netpbm, recognised
// by content). The header
// is probed, then the whole image is decoded at full size, and a region of it at the DCT scale
// and position those bytes choose. A UserError is the answer to a bad file; anything else (a
// crash, a sanitizer report, an internal assertion, another exception) is a finding.
// Build (clang 14; image_decode.cpp needs LibTorch's headers and libraries, T = the venv's torch
// folder: .venv/bin/python -c 'import torch, os; print(os.path.dirname(torch.__file__))'):
//   clang++-14 -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
//     -DFMT_HEADER_ONLY=1 -Isrc -isystem $T/include -isystem $T/include/torch/csrc/api/include
//     tests/fuzz/fuzz_image_decode.cpp src/data/image_decode.cpp -o fuzz_image_decode
//     -L$T/lib -Wl,-rpath,$T/lib -ltorch -ltorch_cpu -lc10 -ljpeg -lpng
// Run: .venv/bin/python tests/fuzz/make_seeds.py corpus &&
//   ./fuzz_image_decode -max_total_time=180 -max_len=8192 -timeout=20 -rss_limit_mb=4096 corpus
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/errors.h"
#include "data/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t scale = data[0], top = data[1], left = data[2], extent = data[3];
  const std::vector<unsigned char> bytes(data + 4, data + size);
  try {
    const rt::ImageInfo info = rt::probe_image("fuzz-input", bytes);
    rt::decode_rgb("fuzz-input", bytes, info);
    // A region at 1/8, 1/4, 1/2 or full scale (the other formats' always at full size).
    const int eighths = info.format == rt::ImageFormat::kJpeg ? 1 << (scale % 4) : 8;
    const int w = rt::scaled_size(info.width, eighths), h = rt::scaled_size(info.height, eighths);
    rt::CropBox box;
    box.top = top % h;
    box.left = left % w;
    box.height = 1 + extent % (h - box.top);
    box.width = 1 + (extent * 37 + top) % (w - box.left);
    rt::decode_rgb("fuzz-input", bytes, info, eighths, box);
  } catch (const rt::UserError&) {
  }
  return 0;
}
