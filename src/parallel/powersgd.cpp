#include "parallel/powersgd.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "core/errors.h"
#include "core/seed.h"
#include "parallel/compression_plan.h"

namespace rt {

void orthonormalize_columns(torch::Tensor a) {
  // Reduced QR: Q (n x r) has orthonormal columns spanning those of `a`; for a zero or
  // rank-deficient `a` its columns are still orthonormal (where Gram-Schmidt would divide by 0).
  auto q = std::get<0>(torch::linalg_qr(a, "reduced"));
  a.copy_(q);
}

PowerSgd::PowerSgd(const GradCompression& spec, Communicator& comm) : spec_(spec), comm_(comm) {}

void PowerSgd::plan(Bucket& b, const std::vector<torch::Tensor>& views) const {
  for (size_t s = 0; s < views.size(); ++s) {
    const auto [n, m] = matrix_sides(views[s].sizes().vec());
    const int64_t rank = powersgd_rank(n, m, spec_);  // parallel/compression_plan.h
    if (rank > 0) {
      b.matrices.push_back({s, n, m, rank, b.p_numel, b.q_numel});
      b.p_numel += n * rank;
      b.q_numel += m * rank;
    } else {
      b.rest.push_back(s);
      b.rest_numel += views[s].numel();
    }
  }
  b.planned = true;
}

void PowerSgd::init_q(Bucket& b, size_t index, const torch::TensorOptions& options) const {
  // The same draws on every rank: seeded by the run's seed and the bucket.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(derive_seed(spec_.seed, SeedPurpose::kPowerSgd, index));
  b.q = torch::randn({b.q_numel}, gen, torch::TensorOptions().dtype(options.dtype())).to(options.device());
}

size_t PowerSgd::compressed_matrices(size_t index) const {
  return index < buckets_.size() ? buckets_[index].matrices.size() : 0;
}

BucketReduction PowerSgd::start(size_t index, torch::Tensor& flat, const std::vector<torch::Tensor>& views) {
  torch::NoGradGuard no_grad;
  const double world = comm_.world_size();
  const std::string what = fmt::format("allreduce of gradient bucket {}", index);
  if (steps_ < spec_.warmup_steps) {  // the plain fp32 allreduce
    flat.mul_(1.0 / world);
    return {comm_.allreduce_sum_async(flat, what), flat.numel() * static_cast<int64_t>(flat.element_size())};
  }
  if (buckets_.size() <= index) buckets_.resize(index + 1);
  Bucket& b = buckets_[index];
  if (!b.planned) plan(b, views);
  RT_CHECK_USER(
      (!b.q.defined() || (b.q.numel() == b.q_numel && b.q.scalar_type() == flat.scalar_type())) &&
          (!b.error.defined() || (b.error.numel() == flat.numel() && b.error.scalar_type() == flat.scalar_type())),
      "the resumed PowerSGD state does not fit gradient bucket {} (it was saved with other buckets); "
      "resume with the run's own --bucket-mb",
      index);
  if (b.error.defined()) {
    flat.add_(b.error);
  } else {
    b.error = torch::zeros_like(flat);
  }
  auto input = std::make_shared<torch::Tensor>(flat.clone());  // M before compression, for the error
  const auto options = flat.options();
  if (!b.q.defined()) init_q(b, index, options);

  // P = M Q for each matrix, then the uncompressed rest, in one buffer and one allreduce.
  auto wire = std::make_shared<torch::Tensor>(torch::empty({b.p_numel + b.rest_numel}, options));
  for (const auto& x : b.matrices) {
    auto q = x.q(b.q);
    orthonormalize_columns(q);
    auto p = x.p(*wire);
    torch::mm_out(p, x.gradient(views), q);
  }
  int64_t offset = b.p_numel;
  for (const size_t s : b.rest) {
    wire->narrow(0, offset, views[s].numel()).copy_(views[s].reshape({-1}));
    offset += views[s].numel();
  }
  auto first = comm_.allreduce_sum_async(*wire, what + " (PowerSGD P and uncompressed)");
  const int64_t bytes = (b.p_numel + b.rest_numel + b.q_numel) * static_cast<int64_t>(flat.element_size());

  auto then = [this, index, world, what, wire, input, views, flat] {
    torch::NoGradGuard no_grad;
    Bucket& b = buckets_[index];
    int64_t offset = b.p_numel;
    for (const size_t s : b.rest) {  // averaged as they are
      auto v = views[s];
      v.copy_(wire->narrow(0, offset, v.numel()).view_as(v)).div_(world);
      offset += v.numel();
    }
    torch::Tensor q_before;  // this step's warm start
    if (!b.matrices.empty()) {
      q_before = b.q.clone();
      for (const auto& x : b.matrices) {
        auto p = x.p(*wire);
        orthonormalize_columns(p);
        auto q = x.q(b.q);
        torch::mm_out(q, x.gradient(views).t(), p);
      }
      comm_.allreduce_sum(b.q, what + " (PowerSGD Q)");
      b.q.div_(world);
      for (const auto& x : b.matrices) {
        auto m = x.gradient(views);
        torch::mm_out(m, x.p(*wire), x.q(b.q).t());
      }
    }
    torch::sub_out(b.error, *input, flat);  // what this rank's step did not send
    // Note [A non-finite step leaves PowerSGD as it was]
    // A step whose gradients are not finite (skipped by --skip-nonfinite) would leave NaN in the
    // error feedback and in the shared Q, and every later step would be NaN too: the weights froze
    // (issue 21, defect 3). Such a step keeps the Q it started from and carries no error. What
    // was sent decides: a non-finite input reaches P (M Q) or the rest, and the averaged bucket
    // is P Q^T and the rest, so the payload and Q (a few percent of the bucket) are finite exactly
    // when the result is. They are equal on every rank, so every rank decides alike. On the CPU
    // the flag is read at once (its ops are synchronous); on a GPU it stays on the device (no
    // host sync). Finite steps are unchanged, bitwise.
    auto finite = torch::isfinite(wire->sum());
    if (q_before.defined()) finite = finite.logical_and(torch::isfinite(b.q.sum()));
    if (flat.is_cpu()) {
      if (!finite.item<bool>()) {
        if (q_before.defined()) b.q.copy_(q_before);
        b.error.zero_();
      }
    } else {
      if (q_before.defined()) b.q.copy_(torch::where(finite, b.q, q_before));
      b.error.mul_(finite).nan_to_num_(0.0, 0.0, 0.0);  // x 1 and no NaN: unchanged; x 0 and NaN -> 0: zero
    }
  };
  return {std::make_unique<ThenWork>(std::move(first), std::move(then)), bytes};
}

CompressorState PowerSgd::state() const {
  CompressorState s;
  s.shared.emplace_back("powersgd/steps", torch::tensor({steps_}, torch::kInt64));
  for (size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i].q.defined()) s.shared.emplace_back(fmt::format("powersgd/bucket{}/q", i), buckets_[i].q);
    if (buckets_[i].error.defined()) s.local.emplace_back(fmt::format("powersgd/bucket{}/error", i), buckets_[i].error);
  }
  return s;
}

void PowerSgd::load_state(const CompressorState& state, const std::vector<int64_t>& bucket_numels) {
  // Names are "powersgd/steps" and "powersgd/bucket<i>/q|error" with i a bucket of this model;
  // anything else is not state this compressor wrote.
  auto bucket = [&](const std::string& name, const char* suffix) -> std::optional<size_t> {
    const std::string prefix = "powersgd/bucket";
    const std::string tail = std::string("/") + suffix;
    if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + tail.size() ||
        name.compare(name.size() - tail.size(), tail.size(), tail) != 0) {
      return std::nullopt;
    }
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - tail.size());
    if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    const size_t index = std::stoul(digits);
    RT_CHECK_USER(index < bucket_numels.size(),
                  "the checkpoint's PowerSGD state {} names a bucket this model does not have ({} buckets); resume "
                  "with the run's own --bucket-mb",
                  name, bucket_numels.size());
    return index;
  };
  auto check_vector = [](const std::string& name, const torch::Tensor& t) {
    RT_CHECK_USER(t.dim() == 1 && t.is_floating_point(),
                  "the checkpoint's PowerSGD state {} is {} of {} dimensions, "
                  "not a vector",
                  name, c10::toString(t.scalar_type()), t.dim());
  };
  std::vector<Bucket> buckets(bucket_numels.size());
  int64_t steps = 0;
  for (const auto& [name, t] : state.shared) {
    if (name == "powersgd/steps") {
      RT_CHECK_USER(t.scalar_type() == torch::kInt64 && t.numel() == 1 && t.item<int64_t>() >= 0,
                    "the checkpoint's PowerSGD step count is not one non-negative integer");
      steps = t.item<int64_t>();
    } else if (const auto i = bucket(name, "q")) {
      check_vector(name, t);
      buckets[*i].q = t.clone();
    } else {
      throw UserError(
          fmt::format("the checkpoint holds gradient compression state {}, which PowerSGD does not keep", name));
    }
  }
  for (const auto& [name, t] : state.local) {
    const auto i = bucket(name, "error");
    RT_CHECK_USER(i.has_value(), "the checkpoint holds gradient compression state {}, which PowerSGD does not keep",
                  name);
    check_vector(name, t);
    RT_CHECK_USER(t.numel() == bucket_numels[*i],
                  "the checkpoint's PowerSGD error feedback for bucket {} has {} elements, the bucket {}; resume with "
                  "the run's own --bucket-mb",
                  *i, t.numel(), bucket_numels[*i]);
    buckets[*i].error = t.clone();
  }
  buckets_ = std::move(buckets);
  steps_ = steps;
}

}  // namespace rt
