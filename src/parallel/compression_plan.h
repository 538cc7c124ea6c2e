// What each gradient compressor sends, from the gradients' shapes alone: the one rule of which
// matrices PowerSGD compresses and at which rank (parallel/powersgd.cpp follows it), and the
// bytes a bucket puts into allreduces (the step-time model, measure/scaling.h, uses them).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/grad_compression.h"

namespace rt {

// A gradient as PowerSGD sees it (DDP's tensor.view(shape[0], -1)): n = the first dimension
// (1 for a scalar), m = the rest.
std::pair<int64_t, int64_t> matrix_sides(const std::vector<int64_t>& shape);

// PowerSGD's rank for an n x m matrix: min(n, m, R) when the two factors are
// min_compression_rate times smaller than the matrix (DDP's _should_compress), else 0: the
// gradient is averaged uncompressed.
int64_t powersgd_rank(int64_t n, int64_t m, const GradCompression& c);

// Bytes one bucket of float32 gradients of these shapes puts into allreduces in one step.
struct BucketTraffic {
  double during_backward = 0;  // the allreduce started as soon as the bucket is full
  double after_backward = 0;   // a second one, issued once backward is done (PowerSGD's Q); 0: none
};
// `compressing`: false for PowerSGD's warm-up steps, which send the bucket as it is.
BucketTraffic bucket_traffic(const GradCompression& c, const std::vector<std::vector<int64_t>>& shapes,
                             bool compressing = true);

}  // namespace rt
