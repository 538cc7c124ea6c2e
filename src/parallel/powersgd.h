// PowerSGD gradient compression (Vogels, Karimireddy and Jaggi, "PowerSGD: Practical Low-Rank
// Gradient Compression for Distributed Optimization", NeurIPS 2019), as PyTorch DDP's
// powerSGD_hook (torch/distributed/algorithms/ddp_comm_hooks/powerSGD_hook.py) does it:
//
//   for the first `warmup_steps` optimiser steps: the plain fp32 allreduce;
//   then, per bucket:  M <- gradients + error (error feedback; the bucket as a whole)
//     each matrix-shaped gradient M (n x m, a conv weight seen as out x in*k*k) with
//     (n+m)*r*min_compression_rate < n*m is compressed at rank r = min(n, m, R):
//       P = M Q                         Q: m x r, random at first, then last step's (warm start),
//       allreduce [P's | the rest]           orthonormalised
//       P <- orthonormalise(P)          the rest (vectors, biases, small matrices): averaged as is
//       Q = M^T P, allreduce Q, Q /= world size
//       M <- P Q^T                      the rank-r approximation of the average
//     error <- M before compression - the bucket after (what this rank's step did not send)
//
// Each step sends (sum of n*r + m*r over compressed matrices + the rest) x 4 bytes instead of
// the bucket's whole size. Orthonormalisation is a reduced QR (DDP uses Gram-Schmidt for r <= 2;
// both give an orthonormal basis of the same columns). The error feedback is this rank's own
// and Q is equal on every rank: a checkpoint keeps both (state()).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/grad_compression.h"
#include "parallel/grad_compressor.h"

namespace rt {

class PowerSgd : public GradCompressor {
 public:
  PowerSgd(const GradCompression& spec, Communicator& comm);
  BucketReduction start(size_t index, torch::Tensor& flat, const std::vector<torch::Tensor>& views) override;
  void step_done() override { ++steps_; }
  std::string name() const override { return spec_.name(); }
  CompressorState state() const override;
  void load_state(const CompressorState& state, const std::vector<int64_t>& bucket_numels) override;

  int64_t steps() const { return steps_; }
  // Matrices compressed in bucket `index` (after its first compressed step).
  size_t compressed_matrices(size_t index) const;

 private:
  struct Matrix {
    size_t slot;
    int64_t n, m, rank;
    int64_t p_offset, q_offset;  // into the bucket's P and Q buffers
    // This matrix's gradient (n x m), its P (n x rank) in `wire`, its Q (m x rank) in `qs`.
    torch::Tensor gradient(const std::vector<torch::Tensor>& views) const { return views[slot].view({n, m}); }
    torch::Tensor p(const torch::Tensor& wire) const { return wire.narrow(0, p_offset, n * rank).view({n, rank}); }
    torch::Tensor q(const torch::Tensor& qs) const { return qs.narrow(0, q_offset, m * rank).view({m, rank}); }
  };
  struct Bucket {
    bool planned = false;
    std::vector<Matrix> matrices;  // compressed
    std::vector<size_t> rest;      // slots averaged uncompressed
    int64_t p_numel = 0, q_numel = 0, rest_numel = 0;
    torch::Tensor error;  // [bucket numel] this rank's error feedback
    torch::Tensor q;      // [q_numel] every matrix's Q, equal on all ranks (warm start)
  };
  void plan(Bucket& b, const std::vector<torch::Tensor>& views) const;
  void init_q(Bucket& b, size_t index, const torch::TensorOptions& options) const;

  GradCompression spec_;
  Communicator& comm_;
  int64_t steps_ = 0;
  std::vector<Bucket> buckets_;
};

// Replaces the columns of `a` (n x r, n >= r) with an orthonormal basis of their span.
void orthonormalize_columns(torch::Tensor a);

}  // namespace rt
