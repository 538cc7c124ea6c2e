#include "data/normalization.h"

#include <sstream>

#include "core/errors.h"

namespace rt {

void channel_lut(const Normalization& norm, int c, float lut[256]) {
  for (int v = 0; v < 256; ++v) lut[v] = (static_cast<float>(v) / 255.0f - norm.mean[c]) / norm.std[c];
}

std::array<float, 3> parse_channel_triple(const std::string& flag, const std::string& text, bool positive) {
  std::array<float, 3> v{};
  std::stringstream in(text);
  std::string item;
  int n = 0;
  bool ok = true;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    float x = 0;
    try {
      x = std::stof(item, &used);
    } catch (const std::exception&) {
      ok = false;
      break;
    }
    ok = ok && used == item.size() && n < 3 && std::isfinite(x) && (!positive || x > 0);
    if (!ok) break;
    v[static_cast<size_t>(n++)] = x;
  }
  RT_CHECK_USER(ok && n == 3, "{} {}: expected three comma-separated {}numbers, one per channel R,G,B (e.g. {} {})",
                flag, text, positive ? "positive " : "", flag, positive ? "0.229,0.224,0.225" : "0.485,0.456,0.406");
  return v;
}

}  // namespace rt
