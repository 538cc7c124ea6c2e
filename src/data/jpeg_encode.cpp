#include "data/jpeg_encode.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/errors.h"
#include "data/jpeg_errors.h"

namespace rt {

namespace {

// C-style (data/jpeg_errors.h): nothing with a destructor lives between the setjmp and a
// longjmp out of libjpeg. `rows` are the h row pointers of contiguous RGB; *out is the caller's
// buffer of *out_size bytes (Note [The encoder's output buffer]). False on an error, the message in `errors`.
bool run_encode(JSAMPROW* rows, int width, int height, int quality, unsigned char** out, unsigned long* out_size,
                JpegErrors* errors) {
  jpeg_compress_struct cinfo{};
  cinfo.err = jpeg_std_error(&errors->mgr);
  errors->mgr.error_exit = jpeg_fail_with_its_message;
  if (setjmp(errors->jump)) {
    jpeg_destroy_compress(&cinfo);
    return false;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, out, out_size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);  // YCbCr, 4:2:0, Huffman tables optimised off (as PIL without optimize=True)
  jpeg_set_quality(&cinfo, quality, TRUE);
  cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) jpeg_write_scanlines(&cinfo, rows + cinfo.next_scanline, 1);
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return true;
}

}  // namespace

std::vector<unsigned char> encode_jpeg(const torch::Tensor& rgb, int quality) {
  TORCH_INTERNAL_ASSERT(rgb.dim() == 3 && rgb.size(2) == 3 && rgb.scalar_type() == torch::kUInt8);
  TORCH_INTERNAL_ASSERT(quality >= 1 && quality <= 100);
  const auto pixels = rgb.contiguous();
  const int h = static_cast<int>(pixels.size(0)), w = static_cast<int>(pixels.size(1));
  std::vector<JSAMPROW> rows(static_cast<size_t>(h));
  for (int y = 0; y < h; ++y)
    rows[static_cast<size_t>(y)] = pixels.data_ptr<uint8_t>() + static_cast<int64_t>(y) * w * 3;
  // Note [The encoder's output buffer]: libjpeg-turbo's memory destination frees a buffer it
  // allocated itself when the JPEG outgrows it, and points *out at the new one only when the
  // image is finished: an error after such a growth would leave `out` dangling, freed twice. A
  // buffer of the caller's it never frees. So it gets one of ours (half the raw size: room for
  // any image's JPEG but noise at high quality), and if the JPEG ends in one of libjpeg's, both
  // are freed. An error after a growth (only running out of memory causes one) leaks libjpeg's
  // last buffer instead of freeing ours twice.
  unsigned long size = static_cast<unsigned long>(h) * static_cast<unsigned long>(w) * 3 / 2 + 65536;
  auto* const ours = static_cast<unsigned char*>(std::malloc(size));
  if (ours == nullptr) throw std::bad_alloc();
  unsigned char* out = ours;
  JpegErrors errors;
  const bool ok = run_encode(rows.data(), w, h, quality, &out, &size, &errors);
  std::vector<unsigned char> bytes;
  if (ok) bytes.assign(out, out + size);
  if (ok && out != ours) std::free(out);
  std::free(ours);
  RT_CHECK_USER(ok, "cannot encode a {}x{} JPEG: {}", w, h, errors.message);
  return bytes;
}

}  // namespace rt
