#include "parallel/buckets.h"

namespace rt {

std::vector<std::vector<size_t>> assign_buckets(const std::vector<BucketParam>& params, int64_t cap_bytes) {
  std::vector<std::vector<size_t>> buckets;
  std::vector<size_t> current;
  int64_t current_bytes = 0;
  for (size_t i = params.size(); i-- > 0;) {
    const BucketParam& p = params[i];
    if (!current.empty() && (current_bytes + p.bytes > cap_bytes || params[current.front()].kind != p.kind)) {
      buckets.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(i);
    current_bytes += p.bytes;
  }
  if (!current.empty()) buckets.push_back(std::move(current));
  return buckets;
}

}  // namespace rt
