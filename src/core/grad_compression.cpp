#include "core/grad_compression.h"

#include <fmt/format.h>

#include "core/errors.h"

namespace rt {

GradCompression GradCompression::parse(const std::string& text) {
  GradCompression c;
  if (text == "none") return c;
  if (text == "bf16" || text == "fp16") {
    c.kind = text == "bf16" ? Kind::kBf16 : Kind::kFp16;
    return c;
  }
  const std::string prefix = "powersgd:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string r = text.substr(prefix.size());
    size_t used = 0;
    int64_t rank = 0;
    try {
      rank = std::stoll(r, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    RT_CHECK_USER(!r.empty() && used == r.size() && rank >= 1 && rank <= 1024,
                  "--grad-compression {}: the PowerSGD rank must be a whole number from 1 to 1024, as in powersgd:4",
                  text);
    c.kind = Kind::kPowerSgd;
    c.rank = rank;
    return c;
  }
  throw UserError(
      fmt::format("--grad-compression {}: expected none, bf16, fp16 or powersgd:R (R a rank such as 4)", text));
}

std::string GradCompression::name() const {
  switch (kind) {
    case Kind::kNone:
      return "none";
    case Kind::kBf16:
      return "bf16";
    case Kind::kFp16:
      return "fp16";
    case Kind::kPowerSgd:
      return fmt::format("powersgd:{}", rank);
  }
  return "none";
}

}  // namespace rt
