// Netpbm images (PBM, PGM, PPM: P1-P6) read as PIL's PpmImagePlugin reads them, then converted
// to RGB as its convert("RGB") does:
//  - the header: the magic, then width, height and (but for bitmaps) maxval, tokens of at most
//    10 characters separated by whitespace, '#' starting a comment to the end of its line; one
//    whitespace byte after the last token, then the pixels;
//  - binary (P4, P5, P6): bitmaps packed 8 pixels a byte, 1 black, rows byte-aligned; maxval
//    255 as is; PGM of maxval 65535 16-bit big-endian grey; other maxvals scaled,
//    round(v / maxval x 255) (round(v / maxval x 65535) for a PGM of maxval above 255, which
//    PIL holds as 32-bit grey);
//  - plain (P1, P2, P3): '0'/'1' characters for a bitmap (whitespace optional), decimal
//    numbers otherwise, scaled like the binary ones; comments are taken out of the data too,
//    with the line end that closes them;
//  - 32-bit and 16-bit grey becomes RGB clipped at 255 (PIL's I -> RGB), a bitmap 0 or 255.
// Too few pixels (a truncated file) and a plain value above maxval are refused, as PIL refuses
// them. PIL's own extensions (P0CMYK, Pf, PyP...) are not read.
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "data/image_formats.h"

namespace rt {

namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

struct NetpbmHeader {
  char kind = 0;  // '1'..'6'
  int64_t width = 0, height = 0, maxval = 1;
  size_t data = 0;  // where the pixels start
  int bands() const { return kind == '3' || kind == '6' ? 3 : 1; }
  bool plain() const { return kind <= '3'; }
  bool bitmap() const { return kind == '1' || kind == '4'; }
  bool wide() const { return !bitmap() && bands() == 1 && maxval > 255; }  // PIL's mode "I"
};

// PIL's _read_token: skips whitespace and comments, then reads to the next whitespace byte
// (consumed).
std::string read_token(const std::string& path, const std::vector<unsigned char>& b, size_t& at) {
  std::string token;
  while (token.size() <= 10) {
    if (at >= b.size()) break;
    const unsigned char c = b[at++];
    if (is_space(c)) {
      if (token.empty()) continue;
      break;
    }
    if (c == '#') {
      while (at < b.size() && b[at] != '\r' && b[at] != '\n') ++at;
      if (at < b.size()) ++at;
      continue;
    }
    token.push_back(static_cast<char>(c));
  }
  RT_CHECK_USER(!token.empty(), "{}: a netpbm header that ends early (truncated file); replace or remove the file",
                path);
  RT_CHECK_USER(token.size() <= 10, "{}: a netpbm header token longer than 10 characters; replace or remove the file",
                path);
  return token;
}

int64_t header_number(const std::string& path, const std::string& token, const char* what) {
  bool digits = !token.empty();
  for (const char c : token) digits = digits && c >= '0' && c <= '9';
  RT_CHECK_USER(digits, "{}: the netpbm {} is '{}', not a number; replace or remove the file", path, what, token);
  return std::stoll(token);
}

NetpbmHeader read_header(const std::string& path, const std::vector<unsigned char>& b) {
  NetpbmHeader h;
  RT_CHECK_USER(b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && is_space(b[2]),
                "{}: not a PBM/PGM/PPM image (P1-P6); replace or remove the file", path);
  h.kind = static_cast<char>(b[1]);
  size_t at = 3;
  h.width = header_number(path, read_token(path, b, at), "width");
  h.height = header_number(path, read_token(path, b, at), "height");
  if (!h.bitmap()) {
    h.maxval = header_number(path, read_token(path, b, at), "maxval");
    RT_CHECK_USER(h.maxval > 0 && h.maxval < 65536,
                  "{}: netpbm maxval {}, expected 1..65535; replace or remove the file", path, h.maxval);
  }
  h.data = at;
  return h;
}

// A sample as 8 bits (bands) or 16/32-bit grey, scaled as PIL's decoders do.
int64_t scaled(int64_t v, const NetpbmHeader& h) {
  const double out_max = h.wide() ? 65535 : 255;
  return std::min<int64_t>(static_cast<int64_t>(out_max),
                           static_cast<int64_t>(std::nearbyint(static_cast<double>(v) / h.maxval * out_max)));
}

// The plain formats' data with its comments taken out (PpmPlainDecoder._ignore_comments).
std::string without_comments(const std::vector<unsigned char>& b, size_t from) {
  std::string out;
  out.reserve(b.size() - from);
  for (size_t i = from; i < b.size(); ++i) {
    if (b[i] != '#') {
      out.push_back(static_cast<char>(b[i]));
      continue;
    }
    while (i < b.size() && b[i] != '\r' && b[i] != '\n') ++i;  // the comment and its line end go
  }
  return out;
}

}  // namespace

bool is_netpbm(const std::vector<unsigned char>& b) {
  return b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && is_space(b[2]);
}

FormatHeader probe_netpbm(const std::string& path, const std::vector<unsigned char>& bytes) {
  const NetpbmHeader h = read_header(path, bytes);
  FormatHeader f;
  RT_CHECK_USER(h.width <= INT32_MAX && h.height <= INT32_MAX, "{}: netpbm image of {}x{} pixels; resize or remove it",
                path, h.width, h.height);
  f.width = static_cast<int>(h.width);
  f.height = static_cast<int>(h.height);
  const auto data = static_cast<int64_t>(bytes.size() - h.data);
  // A bitmap row is (width + 7) / 8 bytes; a binary sample 1 or 2 bytes; a plain sample a
  // character, and but for bitmaps a separator.
  if (h.kind == '4') {
    f.encodable = f.width > 0 ? data / ((h.width + 7) / 8) * h.width : 0;
  } else if (!h.plain()) {
    f.encodable = data / (h.bands() * (h.maxval > 255 ? 2 : 1));
  } else {
    f.encodable = h.bitmap() ? data : (data + 1) / 2 / h.bands();
  }
  return f;
}

torch::Tensor decode_netpbm(const std::string& path, const std::vector<unsigned char>& bytes, const FormatHeader& f) {
  const NetpbmHeader h = read_header(path, bytes);
  const int64_t pixels = static_cast<int64_t>(f.width) * f.height, samples = pixels * h.bands();
  auto rgb = torch::empty({f.height, f.width, 3}, torch::kUInt8);
  uint8_t* out = rgb.data_ptr<uint8_t>();
  // Sample i of the image, as PIL holds it, to its RGB byte(s).
  auto put = [&](int64_t i, int64_t v) {
    const auto byte = static_cast<uint8_t>(std::min<int64_t>(v, 255));  // 16/32-bit grey: clipped
    if (h.bands() == 3) {
      out[i] = byte;
    } else {
      std::memset(out + 3 * i, byte, 3);
    }
  };
  const unsigned char* d = bytes.data() + h.data;
  const auto size = static_cast<int64_t>(bytes.size() - h.data);
  auto truncated = [&](int64_t have) {
    RT_CHECK_USER(have >= samples, "{}: netpbm data ends after {} of {} samples (truncated file); replace or remove it",
                  path, have, samples);
  };
  if (h.kind == '4') {
    const int64_t row = (f.width + 7) / 8;
    truncated(size / row * f.width);
    for (int64_t y = 0; y < f.height; ++y) {
      for (int64_t x = 0; x < f.width; ++x) put(y * f.width + x, (d[y * row + x / 8] >> (7 - x % 8)) & 1 ? 0 : 255);
    }
  } else if (!h.plain()) {
    const int width = h.maxval > 255 ? 2 : 1;
    truncated(size / width);
    for (int64_t i = 0; i < samples; ++i) {
      const int64_t v = width == 1 ? d[i] : (d[2 * i] << 8 | d[2 * i + 1]);
      put(i, h.maxval == 255 || (h.maxval == 65535 && h.wide()) ? v : scaled(v, h));
    }
  } else {
    const std::string text = without_comments(bytes, h.data);
    int64_t i = 0;
    if (h.bitmap()) {
      for (const char c : text) {
        if (i == samples) break;
        if (is_space(static_cast<unsigned char>(c))) continue;
        RT_CHECK_USER(c == '0' || c == '1', "{}: a plain PBM holding '{}', not 0 or 1; replace or remove it", path, c);
        put(i++, c == '1' ? 0 : 255);
      }
    } else {
      size_t at = 0;
      while (i < samples && at < text.size()) {
        if (is_space(static_cast<unsigned char>(text[at]))) {
          ++at;
          continue;
        }
        size_t end = at;
        while (end < text.size() && !is_space(static_cast<unsigned char>(text[end]))) ++end;
        const std::string token = text.substr(at, end - at);
        RT_CHECK_USER(token.size() <= 10, "{}: a plain netpbm value longer than 10 characters; replace or remove it",
                      path);
        const int64_t v = header_number(path, token, "value");
        RT_CHECK_USER(v <= h.maxval, "{}: a plain netpbm value {} above its maxval {}; replace or remove it", path, v,
                      h.maxval);
        put(i++, scaled(v, h));
        at = end;
      }
    }
    truncated(i);
  }
  return rgb;
}

}  // namespace rt
