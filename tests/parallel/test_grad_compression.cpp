// Gradient compression (--grad-compression) against the fp32 allreduce and PowerSGD's own
// invariants, on 2 and 3 ranks (threads with their own Gloo process groups).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "parallel/compression_plan.h"
#include "parallel/grad_compressor.h"
#include "parallel/grad_sync.h"
#include "parallel/powersgd.h"
#include "parallel/ranks.h"

namespace rt {

namespace {

// Shapes like a small conv net's: conv weights, a linear layer, vectors.
const std::vector<std::vector<int64_t>> kShapes = {{16, 8, 3, 3}, {16}, {10, 64}, {10}, {32, 16}};

// Rank `rank`'s gradient of step `step` for each shape.
std::vector<torch::Tensor> gradients(int rank, int step) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(100 * step + rank);
  std::vector<torch::Tensor> g;
  for (const auto& s : kShapes) g.push_back(torch::randn(s, gen));
  return g;
}

// A bucket as GradientSync hands it to a compressor: one flat tensor and its views.
struct FlatBucket {
  torch::Tensor flat;
  std::vector<torch::Tensor> views;
  explicit FlatBucket(const std::vector<torch::Tensor>& grads) {
    std::vector<torch::Tensor> parts;
    for (const auto& g : grads) parts.push_back(g.reshape({-1}));
    flat = torch::cat(parts);
    int64_t offset = 0;
    for (const auto& g : grads) {
      views.push_back(flat.narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
};

// One reduction of `grads` through `c`; returns the result and its payload bytes.
std::pair<torch::Tensor, int64_t> reduce(GradCompressor& c, const std::vector<torch::Tensor>& grads) {
  FlatBucket b(grads);
  auto r = c.start(0, b.flat, b.views);
  r.work->wait();
  c.step_done();
  return {b.flat, r.payload_bytes};
}

torch::Tensor fp32_average(Communicator& comm, const std::vector<torch::Tensor>& grads) {
  GradCompression none;
  auto c = make_grad_compressor(none, comm);
  return reduce(*c, grads).first;
}

GradCompression powersgd(int64_t rank, int64_t warmup = 0, double min_rate = 2) {
  GradCompression spec;
  spec.kind = GradCompression::Kind::kPowerSgd;
  spec.rank = rank;
  spec.warmup_steps = warmup;
  spec.min_compression_rate = min_rate;
  spec.seed = 7;
  return spec;
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

}  // namespace

TEST(GradCompression, ParsesItsChoicesAndRefusesTheRest) {
  for (const char* text : {"none", "bf16", "fp16", "powersgd:1", "powersgd:4"}) {
    EXPECT_EQ(GradCompression::parse(text).name(), text);
  }
  EXPECT_EQ(GradCompression::parse("powersgd:4").rank, 4);
  for (const char* text : {"", "fp8", "powersgd", "powersgd:", "powersgd:0", "powersgd:-1", "powersgd:2x", "BF16"}) {
    EXPECT_THROW(GradCompression::parse(text), UserError) << text;
  }
}

TEST(GradCompression, HalfPrecisionIsWithinItsRoundingOfFp32AndSendsHalfTheBytes) {
  // Each of the W terms g_i / W is rounded to 16 bits, and so is each partial sum: the error is
  // at most about 2 u sum_i |g_i| / W per element x W terms, u = 2^-8 (bf16) or 2^-11 (fp16).
  for (const int world : {2, 3}) {
    for (const auto& [text, u] : {std::pair<const char*, double>{"bf16", std::ldexp(1.0, -8)},
                                  std::pair<const char*, double>{"fp16", std::ldexp(1.0, -11)}}) {
      test::run_ranks(world, [&, text = text, u = u](int rank, Communicator& comm) {
        const auto grads = gradients(rank, 1);
        const auto exact = fp32_average(comm, grads);
        auto c = make_grad_compressor(GradCompression::parse(text), comm);
        const auto [half, bytes] = reduce(*c, grads);
        torch::Tensor abs_sum = torch::zeros_like(exact);
        for (int r = 0; r < world; ++r) abs_sum += FlatBucket(gradients(r, 1)).flat.abs();
        const auto err = (half - exact).abs();
        EXPECT_TRUE((err <= 2 * u * abs_sum + 1e-12).all().item<bool>())
            << text << " world " << world << ": worst error / bound "
            << (err / (2 * u * abs_sum + 1e-12)).max().item<double>();
        EXPECT_GT(err.max().item<double>(), 0) << text << ": not rounded at all?";
        EXPECT_EQ(bytes, exact.numel() * 2);
      });
    }
  }
}

TEST(PowerSgd, WarmupStepsAreThePlainAllreduceBitwise) {
  test::run_ranks(2, [](int rank, Communicator& comm) {
    PowerSgd c(powersgd(2, /*warmup=*/2), comm);
    for (int step = 0; step < 2; ++step) {
      const auto grads = gradients(rank, step);
      const auto [out, bytes] = reduce(c, grads);
      EXPECT_TRUE(torch::equal(out, fp32_average(comm, grads))) << step;
      EXPECT_EQ(bytes, out.numel() * 4);
    }
    EXPECT_TRUE(c.state().local.empty());  // no error feedback before PowerSGD starts
  });
}

TEST(PowerSgd, CompressedPlusResidualIsTheGradientAndFewerBytesAreSent) {
  for (const int world : {2, 3}) {
    test::run_ranks(world, [](int rank, Communicator& comm) {
      PowerSgd c(powersgd(2), comm);
      torch::Tensor error;  // the residual carried into each step
      for (int step = 0; step < 3; ++step) {
        const auto grads = gradients(rank, step);
        torch::Tensor input = FlatBucket(grads).flat;
        if (error.defined()) input = input + error;
        const auto [out, bytes] = reduce(c, grads);
        error = c.state().local.at(0).second.clone();
        EXPECT_LT(rel_diff(out + error, input), 1e-6) << "step " << step;
        EXPECT_LT(bytes, out.numel() * 4 / 2) << "step " << step;
        // The step-time model's bytes (parallel/compression_plan.h) are the ones sent.
        const BucketTraffic t = bucket_traffic(powersgd(2), kShapes);
        EXPECT_EQ(static_cast<double>(bytes), t.during_backward + t.after_backward);
        // Every rank got the same approximation.
        auto copy = out.clone();
        comm.allreduce_sum(copy, "test");
        EXPECT_LT(rel_diff(copy / comm.world_size(), out), 1e-6);
      }
      EXPECT_EQ(c.compressed_matrices(0), 3u);  // the conv weight and both matrices; not the vectors
    });
  }
}

TEST(PowerSgd, RankAtLeastTheSmallerSideIsTheExactAllreduce) {
  for (const int world : {2, 3}) {
    test::run_ranks(world, [](int rank, Communicator& comm) {
      PowerSgd c(powersgd(/*rank=*/100, /*warmup=*/0, /*min_rate=*/0), comm);  // compress everything
      for (int step = 0; step < 3; ++step) {
        const auto grads = gradients(rank, step);
        const auto exact = fp32_average(comm, grads);
        const auto [out, bytes] = reduce(c, grads);
        EXPECT_LT(rel_diff(out, exact), 1e-5) << "step " << step;
        EXPECT_GT(c.compressed_matrices(0), 0u);
      }
    });
  }
}

TEST(PowerSgd, ARankOneAverageIsRecoveredAtRankOne) {
  test::run_ranks(3, [](int rank, Communicator& comm) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    const auto u = torch::randn({40, 1}, gen);  // shared left factor; each rank its own right one
    auto own = at::make_generator<at::CPUGeneratorImpl>(50 + rank);
    const std::vector<torch::Tensor> grads = {u.mm(torch::randn({1, 30}, own))};
    PowerSgd c(powersgd(1), comm);
    const auto exact = fp32_average(comm, grads);
    const auto [out, bytes] = reduce(c, grads);
    EXPECT_LT(rel_diff(out, exact), 1e-5);
    EXPECT_EQ(bytes, (40 + 30) * 4);
  });
}

TEST(PowerSgd, RestoredStateContinuesBitwise) {
  test::run_ranks(2, [](int rank, Communicator& comm) {
    PowerSgd a(powersgd(2, /*warmup=*/1), comm);
    for (int step = 0; step < 3; ++step) reduce(a, gradients(rank, step));
    const CompressorState saved = a.state();
    PowerSgd b(powersgd(2, /*warmup=*/1), comm);
    CompressorState copy;
    for (const auto& [n, t] : saved.shared) copy.shared.emplace_back(n, t.clone());
    for (const auto& [n, t] : saved.local) copy.local.emplace_back(n, t.clone());
    b.load_state(copy, {FlatBucket(gradients(rank, 0)).flat.numel()});
    EXPECT_EQ(b.steps(), 3);
    for (int step = 3; step < 5; ++step) {
      const auto grads = gradients(rank, step);
      EXPECT_TRUE(torch::equal(reduce(a, grads).first, reduce(b, grads).first)) << step;
    }
  });
}

// Issue 21, defect 3: one non-finite step (skipped by --skip-nonfinite) poisoned every rank's
// error feedback and the shared Q, and every later step was NaN. Now it keeps its warm start and
// carries no error, and the next steps are what PowerSGD gives from there.
TEST(PowerSgd, ANonFiniteStepLeavesTheStateUsable) {
  test::run_ranks(2, [](int rank, Communicator& comm) {
    PowerSgd c(powersgd(2), comm);
    for (int step = 0; step < 2; ++step) reduce(c, gradients(rank, step));
    auto bad = gradients(rank, 2);
    if (rank == 1) bad[2][3][4] = std::nan("");  // one rank's one gradient element
    const auto [poisoned, bytes] = reduce(c, bad);
    EXPECT_FALSE(torch::isfinite(poisoned).all().item<bool>());  // this step is skipped by the optimiser
    const CompressorState after = c.state();
    for (const auto& [name, t] : after.shared) EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
    ASSERT_EQ(after.local.size(), 1u);
    EXPECT_EQ(after.local[0].second.abs().max().item<double>(), 0.0) << "the error feedback of the skipped step";
    torch::Tensor error = after.local[0].second.clone();
    for (int step = 3; step < 5; ++step) {
      const auto grads = gradients(rank, step);
      const torch::Tensor input = FlatBucket(grads).flat + error;
      const auto [out, sent] = reduce(c, grads);
      error = c.state().local.at(0).second.clone();
      EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << "step " << step;
      EXPECT_LT(rel_diff(out + error, input), 1e-6) << "step " << step;
    }
  });
}

TEST(PowerSgd, GradientSyncGathersEveryRanksStateForACheckpoint) {
  test::run_ranks(2, [](int rank, Communicator& comm) {
    std::vector<torch::Tensor> params;
    for (const auto& s : kShapes) params.push_back(torch::zeros(s, torch::requires_grad()));
    GradientSync sync(params, comm, 1 << 30, true, powersgd(2));
    for (int step = 0; step < 2; ++step) {
      for (auto& p : params) p.mutable_grad() = torch::Tensor();
      const auto grads = gradients(rank, step);
      torch::Tensor loss = torch::zeros({});
      for (size_t i = 0; i < params.size(); ++i) loss = loss + (params[i] * grads[i]).sum();
      loss.backward();
      sync.finish();
    }
    EXPECT_EQ(sync.compression(), "powersgd:2");
    EXPECT_LT(sync.stats().bytes_allreduced, 2 * FlatBucket(gradients(0, 0)).flat.numel() * 4 / 2);
    const auto gathered = sync.gather_compression_state();
    if (rank != 0) {
      EXPECT_TRUE(gathered.empty());
      return;
    }
    std::vector<std::string> names;
    for (const auto& [n, t] : gathered) names.push_back(n);
    EXPECT_EQ(names, (std::vector<std::string>{"powersgd/steps", "powersgd/bucket0/q", "rank0/powersgd/bucket0/error",
                                               "rank1/powersgd/bucket0/error"}));
    EXPECT_FALSE(torch::equal(gathered[2].second, gathered[3].second));  // each rank's own residual
  });
}

// On another number of ranks (issue 21, defect 10) each rank starts from the saved ranks' mean
// error feedback, so the gradient the average has not yet received stays what it was; Q and
// the step count carry over as they are (no second warm-up).
TEST(PowerSgd, AnotherWorldSizeStartsFromTheMeanErrorFeedback) {
  const int64_t numel = FlatBucket(gradients(0, 0)).flat.numel();
  std::vector<std::pair<std::string, torch::Tensor>> saved = {
      {"powersgd/steps", torch::tensor({int64_t{7}}, torch::kInt64)}};
  for (int r = 0; r < 3; ++r)
    saved.emplace_back(fmt::format("rank{}/powersgd/bucket0/error", r), torch::full({numel}, 1.0f + 3.0f * r));
  test::run_ranks(2, [&](int rank, Communicator& comm) {
    std::vector<torch::Tensor> params;
    for (const auto& s : kShapes) params.push_back(torch::zeros(s, torch::requires_grad()));
    GradientSync sync(params, comm, 1 << 30, true, powersgd(2));
    sync.load_compression_state(saved, 3);
    const auto state = sync.gather_compression_state();
    if (rank != 0) return;
    std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
    EXPECT_EQ(by_name.at("powersgd/steps").item<int64_t>(), 7);
    for (const char* r : {"rank0", "rank1"}) {
      const auto& e = by_name.at(std::string(r) + "/powersgd/bucket0/error");
      EXPECT_TRUE(torch::equal(e, torch::full({numel}, 4.0f))) << r << ": " << e.slice(0, 0, 4);  // (1 + 4 + 7) / 3
    }
  });
}

// A checkpoint's compressor state is untrusted: each crafted variant is refused with a UserError
// before anything is allocated from it, and the compressor keeps working afterwards.
TEST(PowerSgd, CraftedStateIsRefused) {
  test::run_ranks(1, [](int rank, Communicator& comm) {
    const int64_t numel = FlatBucket(gradients(rank, 0)).flat.numel();
    const std::vector<int64_t> buckets = {numel};
    auto with = [](std::vector<std::pair<std::string, torch::Tensor>> shared,
                   std::vector<std::pair<std::string, torch::Tensor>> local) {
      CompressorState s;
      s.shared = std::move(shared);
      s.local = std::move(local);
      return s;
    };
    const auto q = torch::zeros({8});
    const std::vector<CompressorState> crafted = {
        with({{"powersgd/bucket999999/q", q}}, {}),                            // no such bucket
        with({{"powersgd/bucket0/q", torch::zeros({2, 4})}}, {}),              // not a vector
        with({{"powersgd/bucket0/q", torch::zeros({8}, torch::kInt64)}}, {}),  // not floating
        with({{"powersgd/steps", torch::tensor({int64_t{-1}})}}, {}),          // a negative count
        with({{"powersgd/steps", torch::zeros({3}, torch::kInt64)}}, {}),      // not one number
        with({{"something/else", q}}, {}),                                     // not PowerSGD's
        with({}, {{"powersgd/bucket0/error", torch::zeros({numel + 1})}}),     // the wrong size
        with({}, {{"powersgd/bucket-1/error", torch::zeros({numel})}}),        // a bad name
    };
    for (size_t i = 0; i < crafted.size(); ++i) {
      PowerSgd c(powersgd(2, /*warmup=*/0), comm);
      EXPECT_THROW(c.load_state(crafted[i], buckets), UserError) << i;
    }
    // A Q of the right size but the wrong dtype for the gradients is refused when it is used.
    PowerSgd c(powersgd(2, /*warmup=*/0), comm);
    FlatBucket b(gradients(rank, 0));
    c.load_state(with({{"powersgd/bucket0/q", torch::zeros({1}, torch::kFloat64)}}, {}), buckets);
    EXPECT_THROW(c.start(0, b.flat, b.views), UserError);
  });
}

}  // namespace rt
