// Gradient synchronisation against independent references: one flat allreduce after
// backward, and a single process training on the union of the ranks' batches.
#include <gtest/gtest.h>

#include "eval/evaluate.h"
#include "model/batchnorm.h"
#include "model/precision.h"
#include "model/registry.h"
#include "parallel/grad_sync.h"
#include "parallel/ranks.h"

namespace rt {

namespace {

// A BN-free conv net: with BatchNorm, per-rank batch statistics would differ from the
// statistics of the whole batch, so only BN-free models train identically (or --sync-bn).
struct SmallNet : torch::nn::Module {
  torch::nn::Conv2d c1{nullptr}, c2{nullptr};
  torch::nn::Linear fc{nullptr};
  SmallNet() {
    c1 = register_module("c1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)));
    c2 = register_module("c2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).stride(2)));
    fc = register_module("fc", torch::nn::Linear(16, 10));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = torch::relu(c2(torch::relu(c1(x))));
    return fc(torch::adaptive_avg_pool2d(h, {1, 1}).flatten(1));
  }
};

// The fixed global batch of step `step`: 2B images and labels.
std::pair<torch::Tensor, torch::Tensor> global_batch(int step, int64_t b2) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1000 + step);
  return {torch::randn({b2, 3, 16, 16}, gen), torch::randint(0, 10, {b2}, gen, torch::kInt64)};
}

std::shared_ptr<SmallNet> make_net() {
  torch::manual_seed(3);
  return std::make_shared<SmallNet>();
}

std::vector<torch::Tensor> flat_params(SmallNet& net) {
  std::vector<torch::Tensor> out;
  for (auto& p : net.parameters()) out.push_back(p.detach().clone());
  return out;
}

}  // namespace

TEST(GradSync, TwoRanksWithBatchBMatchOneRankWithBatch2B) {
  constexpr int kSteps = 5;
  constexpr int64_t kB = 6;
  // Reference: one process, global batch 2B.
  auto ref = make_net();
  torch::optim::SGD ref_opt(ref->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-4));
  for (int s = 0; s < kSteps; ++s) {
    auto [x, y] = global_batch(s, 2 * kB);
    ref_opt.zero_grad();
    torch::nn::functional::cross_entropy(ref->forward(x), y).backward();
    ref_opt.step();
  }
  const auto expected = flat_params(*ref);

  std::vector<std::vector<torch::Tensor>> results(2);
  // Models are made before the rank threads start: seeding is process-global.
  const std::vector<std::shared_ptr<SmallNet>> nets = {make_net(), make_net()};
  test::run_ranks(2, [&](int rank, Communicator& comm) {
    auto net = nets[static_cast<size_t>(rank)];
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-4));
    // A small bucket cap: several buckets, launched during backward.
    GradientSync sync(net->parameters(), comm, /*bucket_cap_bytes=*/2048);
    EXPECT_GT(sync.num_buckets(), 2u);
    for (int s = 0; s < kSteps; ++s) {
      auto [x, y] = global_batch(s, 2 * kB);
      opt.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(x.narrow(0, rank * kB, kB)), y.narrow(0, rank * kB, kB))
          .backward();
      sync.finish();
      opt.step();
    }
    EXPECT_EQ(sync.stats().steps, kSteps);
    results[static_cast<size_t>(rank)] = flat_params(*net);
  });
  double max_diff = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(torch::equal(results[0][i], results[1][i])) << "ranks differ in parameter " << i;
    max_diff = std::max(max_diff, (results[0][i] - expected[i]).abs().max().item<double>());
  }
  EXPECT_LT(max_diff, 1e-5) << "2 ranks x B vs 1 rank x 2B: max |difference| " << max_diff;
  std::printf("2 ranks x B vs 1 rank x 2B after %d steps: max |difference| %.3g\n", kSteps, max_diff);
}

TEST(GradSync, BucketedOverlapEqualsOneFlatAllreduceAfterBackward) {
  for (int64_t cap : {int64_t{512}, int64_t{4096}, int64_t{1} << 30}) {
    const std::vector<std::shared_ptr<SmallNet>> nets = {make_net(), make_net(), make_net()};
    test::run_ranks(3, [&](int rank, Communicator& comm) {
      auto net = nets[static_cast<size_t>(rank)];
      auto [x, y] = global_batch(rank, 5);  // every rank its own data
      // Reference: plain backward, then one allreduce of all gradients concatenated.
      torch::nn::functional::cross_entropy(net->forward(x), y).backward();
      std::vector<torch::Tensor> grads;
      for (auto& p : net->parameters()) grads.push_back(p.grad().reshape(-1));
      auto flat = torch::cat(grads);
      comm.allreduce_sum(flat, "reference allreduce");
      flat /= comm.world_size();
      // Bucketed, overlapped path on the same data.
      for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
      {
        GradientSync sync(net->parameters(), comm, cap);
        torch::nn::functional::cross_entropy(net->forward(x), y).backward();
        sync.finish();
      }
      std::vector<torch::Tensor> synced;
      for (auto& p : net->parameters()) synced.push_back(p.grad().reshape(-1));
      const double diff = (torch::cat(synced) - flat).abs().max().item<double>();
      EXPECT_LT(diff, 1e-6) << "cap " << cap << " rank " << rank;
    });
  }
}

TEST(GradSync, AccumulationCommunicatesOnceAndAveragesAllMicroBatches) {
  // 2 ranks x 2 micro-batches of 3 == one process with the 12 images (losses averaged).
  auto ref = make_net();
  auto [x, y] = global_batch(7, 12);
  torch::nn::functional::cross_entropy(ref->forward(x), y).backward();
  std::vector<torch::Tensor> expected;
  for (auto& p : ref->parameters()) expected.push_back(p.grad().clone());
  const std::vector<std::shared_ptr<SmallNet>> nets = {make_net(), make_net()};
  test::run_ranks(2, [&](int rank, Communicator& comm) {
    auto net = nets[static_cast<size_t>(rank)];
    GradientSync sync(net->parameters(), comm, 4096);
    for (int micro = 0; micro < 2; ++micro) {
      sync.set_sync(micro == 1);
      const int64_t begin = rank * 6 + micro * 3;
      (torch::nn::functional::cross_entropy(net->forward(x.narrow(0, begin, 3)), y.narrow(0, begin, 3)) / 2.0)
          .backward();
    }
    sync.finish();
    EXPECT_EQ(sync.stats().steps, 1);
    auto params = net->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_LT((params[i].grad() - expected[i]).abs().max().item<double>(), 1e-6) << i;
    }
  });
}

TEST(SyncBatchNorm, TwoRanksWithBatchBMatchOneRankWithBatch2B) {
  constexpr int kSteps = 3;
  constexpr int64_t kB = 4;
  // In float64, so that a missing cross-rank term could not hide in rounding differences.
  auto make = [] {
    torch::manual_seed(11);
    auto m = make_model("resnet20", 10);
    m->to(torch::kFloat64);
    return m;
  };
  auto sgd = [](Classifier& m) {
    return torch::optim::SGD(m.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(1e-4));
  };
  auto ref = make();  // one process, batch 2B, plain BatchNorm
  auto ref_opt = sgd(*ref);
  for (int s = 0; s < kSteps; ++s) {
    auto [x, y] = global_batch(s, 2 * kB);
    ref_opt.zero_grad();
    torch::nn::functional::cross_entropy(ref->forward(x.to(torch::kFloat64)), y).backward();
    ref_opt.step();
  }
  const std::vector<std::shared_ptr<Classifier>> models = {make(), make()};
  test::run_ranks(2, [&](int rank, Communicator& comm) {
    auto& m = *models[static_cast<size_t>(rank)];
    EXPECT_EQ(set_sync_batchnorm(m, [&comm](torch::Tensor& t) { comm.allreduce_sum(t, "sync-bn"); }), 19);
    auto opt = sgd(m);
    GradientSync sync(m.parameters(), comm, 1 << 16);
    for (int s = 0; s < kSteps; ++s) {
      auto [x, y] = global_batch(s, 2 * kB);
      opt.zero_grad();
      torch::nn::functional::cross_entropy(m.forward(x.narrow(0, rank * kB, kB).to(torch::kFloat64)),
                                           y.narrow(0, rank * kB, kB))
          .backward();
      sync.finish();
      opt.step();
    }
  });
  double max_diff = 0;
  auto ref_state = ref->named_parameters();
  for (const auto& b : ref->named_buffers()) ref_state.insert(b.key(), b.value());
  for (int r = 0; r < 2; ++r) {
    auto state = models[static_cast<size_t>(r)]->named_parameters();
    for (const auto& b : models[static_cast<size_t>(r)]->named_buffers()) state.insert(b.key(), b.value());
    for (const auto& p : ref_state) {
      const double d = (state[p.key()].to(torch::kDouble) - p.value().to(torch::kDouble)).abs().max().item<double>();
      EXPECT_LT(d, 1e-9) << "rank " << r << " " << p.key();
      max_diff = std::max(max_diff, d);
    }
  }
  std::printf("sync-bn: 2 ranks x B vs 1 rank x 2B after %d steps: max |difference| %.3g\n", kSteps, max_diff);
}

// An odd global batch (128 + 129 = 257) under bf16 autocast, against plain BatchNorm in float64
// on the whole batch: the element count per channel (257 x 16 = 4112) is not a bf16 number, so
// statistics kept in the input's dtype would normalise with 4096; the output stays bf16.
TEST(SyncBatchNorm, OddBatchUnderBf16AutocastMatchesFloat64) {
  constexpr int64_t kChannels = 8;
  const int64_t rows[2] = {128, 129};
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  // Values around 10 (as activations can be): a wrong count shifts the mean and ruins the variance.
  const auto x = (10 + torch::randn({257, kChannels, 4, 4}, gen)).to(torch::kBFloat16);
  const auto weight = 0.5 + torch::rand({kChannels}, gen), bias = torch::randn({kChannels}, gen);
  const auto upstream = torch::randn({257, kChannels, 4, 4}, gen);  // d loss / d y
  // The reference: one process, the whole batch, float64.
  auto x64 = x.to(torch::kFloat64).requires_grad_(true);
  auto w64 = weight.to(torch::kFloat64).requires_grad_(true), b64 = bias.to(torch::kFloat64).requires_grad_(true);
  auto rm64 = torch::zeros({kChannels}, torch::kFloat64), rv64 = torch::ones({kChannels}, torch::kFloat64);
  const auto y64 = torch::batch_norm(x64, w64, b64, rm64, rv64, /*training=*/true, 0.1, 1e-5, false);
  (y64 * upstream.to(torch::kFloat64)).sum().backward();

  std::vector<torch::Tensor> y(2), grad_x(2), grad_w(2), running_mean(2), running_var(2);
  test::run_ranks(2, [&](int rank, Communicator& comm) {
    BatchNorm bn(kChannels);
    {
      torch::NoGradGuard no_grad;
      bn->weight.copy_(weight);
      bn->bias.copy_(bias);
    }
    bn->train();
    bn->set_sum_over_ranks([&comm](torch::Tensor& t) { comm.allreduce_sum(t, "sync-bn"); });
    const int64_t begin = rank == 0 ? 0 : rows[0];
    auto xr = x.narrow(0, begin, rows[rank]).clone().requires_grad_(true);
    torch::Tensor out;
    {
      AutocastGuard autocast(torch::kCPU, Precision::kBFloat16);
      out = bn->forward(xr);
    }
    (out.to(torch::kFloat32) * upstream.narrow(0, begin, rows[rank])).sum().backward();
    y[rank] = out.detach();
    grad_x[rank] = xr.grad();
    grad_w[rank] = bn->weight.grad().clone();
    running_mean[rank] = bn->running_mean.clone();
    running_var[rank] = bn->running_var.clone();
  });
  EXPECT_EQ(y[0].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(grad_x[0].scalar_type(), torch::kBFloat16);
  auto max_diff = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
  };
  const double dy = max_diff(torch::cat(y), y64), dx = max_diff(torch::cat(grad_x), x64.grad());
  // Weight gradients are per rank (as DDP averages them afterwards): their sum is the whole batch's.
  const double dw = max_diff(grad_w[0] + grad_w[1], w64.grad());
  const double dm = max_diff(running_mean[0], rm64), dv = max_diff(running_var[0], rv64);
  std::printf(
      "sync-bn bf16, batch 128 + 129: max |difference| output %.3g, input grad %.3g, weight grad %.3g, "
      "running mean %.3g, running var %.3g\n",
      dy, dx, dw, dm, dv);
  EXPECT_LT(dy, 0.03);  // bf16 output: 2^-8 relative of values up to ~4
  EXPECT_LT(dx, 0.03 * x64.grad().abs().max().item<double>());
  EXPECT_LT(dw, 1e-2 * w64.grad().abs().max().item<double>());  // upstream gradients arrive rounded to bf16
  EXPECT_LT(dm, 1e-4);
  EXPECT_LT(dv, 1e-4);
  EXPECT_TRUE(torch::equal(running_mean[0], running_mean[1]));
}

TEST(DistEval, ShardedEvaluationEqualsSingleProcess) {
  Dataset data;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  data.images = torch::randint(0, 256, {37, 3, 32, 32}, gen, torch::kUInt8);
  data.labels = torch::randint(0, 10, {37}, gen, torch::kInt64);
  data.class_names = std::vector<std::string>(10, "c");
  torch::manual_seed(0);
  auto model = make_model("resnet20", 10);
  EvalSpec spec;
  spec.batch_size = 8;
  const EvalResult single = evaluate(*model, data, torch::kCPU, spec);
  std::vector<std::shared_ptr<Classifier>> models;
  for (int r = 0; r < 3; ++r) {
    torch::manual_seed(0);
    models.push_back(make_model("resnet20", 10));
  }
  test::run_ranks(3, [&](int rank, Communicator& comm) {
    EvalResult r =
        evaluate(*models[static_cast<size_t>(rank)], data, torch::kCPU, spec, eval_shard(data.size(), rank, 3));
    reduce_across_ranks(r, comm, torch::kCPU);
    EXPECT_EQ(r.confusion, single.confusion);
    EXPECT_EQ(r.samples, 37);
    EXPECT_NEAR(r.loss_sum, single.loss_sum, 1e-4);
  });
}

TEST(DistEnvTest, ReadsTorchrunMpiAndSlurmVariables) {
  auto clear = [] {
    for (const char* v :
         {"RANK", "WORLD_SIZE", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
          "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "MASTER_ADDR", "MASTER_PORT"})
      unsetenv(v);
  };
  clear();
  EXPECT_EQ(read_dist_env().world_size, 1);
  setenv("SLURM_PROCID", "3", 1);
  setenv("SLURM_NTASKS", "8", 1);
  setenv("SLURM_LOCALID", "1", 1);
  auto e = read_dist_env();
  EXPECT_EQ(e.launcher, "srun");
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 8);
  EXPECT_EQ(e.local_rank, 1);
  setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
  EXPECT_EQ(read_dist_env().launcher, "mpirun");
  setenv("RANK", "1", 1);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "10.0.0.7", 1);
  setenv("MASTER_PORT", "1234", 1);
  e = read_dist_env();
  EXPECT_EQ(e.launcher, "torchrun");
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 1234);
  setenv("RANK", "2", 1);
  EXPECT_THROW(read_dist_env(), UserError);  // rank 2 of 2
  setenv("MASTER_PORT", "http", 1);
  EXPECT_THROW(read_dist_env(), UserError);
  clear();
}

}  // namespace rt
