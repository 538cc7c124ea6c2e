// WebP images (lossy, lossless, with alpha, animated) through libwebp, as PIL reads them: its
// WebP plugin decodes every file with libwebp's animation decoder in RGBA and shows the first
// frame, on a canvas that starts transparent black; convert("RGB") drops the alpha. The same
// decoder, the same first frame and the same colour conversion give the same pixels.
#include <webp/decode.h>
#include <webp/demux.h>

#include <cstring>
#include <memory>

#include "core/errors.h"
#include "data/image_formats.h"

namespace rt {

bool is_webp(const std::vector<unsigned char>& b) {
  return b.size() >= 16 && std::memcmp(b.data(), "RIFF", 4) == 0 && std::memcmp(b.data() + 8, "WEBP", 4) == 0;
}

FormatHeader probe_webp(const std::string& path, const std::vector<unsigned char>& bytes) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  RT_CHECK_USER(status == VP8_STATUS_OK, "{}: not a decodable WebP (libwebp status {}); replace or remove the file",
                path, static_cast<int>(status));
  FormatHeader f;
  f.width = features.width;  // the canvas, for an animation
  f.height = features.height;
  return f;  // no floor on the pixels a byte can hold: a lossless flat image is a few bytes
}

torch::Tensor decode_webp(const std::string& path, const std::vector<unsigned char>& bytes, const FormatHeader& f) {
  WebPAnimDecoderOptions options;
  RT_CHECK_USER(WebPAnimDecoderOptionsInit(&options), "{}: libwebp's decoder could not start", path);
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData data{bytes.data(), bytes.size()};
  std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> decoder(WebPAnimDecoderNew(&data, &options),
                                                                       WebPAnimDecoderDelete);
  RT_CHECK_USER(decoder != nullptr, "{}: WebP data is corrupt or truncated; replace or remove the file", path);
  WebPAnimInfo info;
  RT_CHECK_USER(WebPAnimDecoderGetInfo(decoder.get(), &info) && static_cast<int>(info.canvas_width) == f.width &&
                    static_cast<int>(info.canvas_height) == f.height,
                "{}: WebP data is corrupt (its canvas is not the size its header says); replace or remove the file",
                path);
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  RT_CHECK_USER(WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp) && rgba != nullptr,
                "{}: WebP data is corrupt or truncated; replace or remove the file", path);
  auto rgb = torch::empty({f.height, f.width, 3}, torch::kUInt8);
  uint8_t* out = rgb.data_ptr<uint8_t>();
  const int64_t pixels = static_cast<int64_t>(f.width) * f.height;
  for (int64_t p = 0; p < pixels; ++p) std::memcpy(out + 3 * p, rgba + 4 * p, 3);
  return rgb;
}

}  // namespace rt
