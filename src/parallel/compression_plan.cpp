#include "parallel/compression_plan.h"

#include <algorithm>

namespace rt {

std::pair<int64_t, int64_t> matrix_sides(const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (const int64_t d : shape) numel *= d;
  const int64_t n = shape.empty() ? 1 : shape.front();
  return {n, n == 0 ? 0 : numel / n};
}

int64_t powersgd_rank(int64_t n, int64_t m, const GradCompression& c) {
  const int64_t rank = std::min({n, m, c.rank});
  const bool worth_it =
      rank > 0 && static_cast<double>((n + m) * rank) * c.min_compression_rate < static_cast<double>(n * m);
  return worth_it ? rank : 0;
}

BucketTraffic bucket_traffic(const GradCompression& c, const std::vector<std::vector<int64_t>>& shapes,
                             bool compressing) {
  constexpr double kFloat = 4;  // bytes of a float32 gradient
  double numel = 0;
  for (const auto& s : shapes) {
    const auto [n, m] = matrix_sides(s);
    numel += static_cast<double>(n * m);
  }
  switch (c.kind) {
    case GradCompression::Kind::kNone:
      return {numel * kFloat, 0};
    case GradCompression::Kind::kBf16:
    case GradCompression::Kind::kFp16:
      return {numel * 2, 0};
    case GradCompression::Kind::kPowerSgd:
      break;
  }
  if (!compressing) return {numel * kFloat, 0};
  BucketTraffic t;
  for (const auto& s : shapes) {
    const auto [n, m] = matrix_sides(s);
    const int64_t r = powersgd_rank(n, m, c);
    if (r > 0) {  // P (n x r) with the rest, then Q (m x r)
      t.during_backward += static_cast<double>(n * r) * kFloat;
      t.after_backward += static_cast<double>(m * r) * kFloat;
    } else {
      t.during_backward += static_cast<double>(n * m) * kFloat;
    }
  }
  return t;
}

}  // namespace rt
