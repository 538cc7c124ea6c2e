// --grad-compression: how gradient buckets travel between ranks. The spec only (parsed and
// validated with the rest of Config); the compressors are in parallel/grad_compressor.h.
//   none         fp32, as the gradients are (the default)
//   bf16, fp16   each bucket cast to 16 bits for the allreduce, divided by the world size first
//                (as DDP's fp16/bf16 compression hooks; fp16 cannot overflow that way)
//   powersgd:R   rank-R PowerSGD (Vogels et al. 2019), as DDP's powerSGD_hook: error feedback,
//                warm start, after --powersgd-warmup uncompressed steps
#pragma once

#include <cstdint>
#include <string>

namespace rt {

struct GradCompression {
  enum class Kind { kNone, kBf16, kFp16, kPowerSgd };
  Kind kind = Kind::kNone;
  int64_t rank = 0;                 // powersgd: the rank of each matrix's approximation
  int64_t warmup_steps = 0;         // powersgd: optimiser steps allreduced uncompressed first
  double min_compression_rate = 2;  // powersgd: a matrix n x m is compressed only if n*m > this * (n+m)*rank
  uint64_t seed = 0;                // powersgd: the random draws of the first Q

  // "none", "bf16", "fp16" or "powersgd:R" (R >= 1); throws UserError naming the choices.
  static GradCompression parse(const std::string& text);
  std::string name() const;  // the text parse() reads
  bool lossy() const { return kind != Kind::kNone; }
};

}  // namespace rt
