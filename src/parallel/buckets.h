// Gradient buckets, as DDP's Reducer forms them: parameters taken in reverse order of
// registration (about the order in which backward produces their gradients) and grouped into
// buckets of at most `cap_bytes` (a parameter larger than the cap gets a bucket of its own); a
// change of `kind` (dtype and device) also starts a new bucket. The one assignment used by
// GradientSync (parallel/grad_sync.h) and by the scaling model (measure/scaling.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rt {

struct BucketParam {
  int64_t bytes = 0;  // numel x element size
  int kind = 0;       // parameters of different kinds never share a bucket
};

// Per bucket, in launch order, the indices into `params` of its parameters, in the order they
// are added (reverse registration order).
std::vector<std::vector<size_t>> assign_buckets(const std::vector<BucketParam>& params, int64_t cap_bytes);

}  // namespace rt
