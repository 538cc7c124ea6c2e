// Where a process stands in the job: which GPU a local rank takes, torchrun's restart count.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "core/errors.h"
#include "parallel/launcher.h"
#include "parallel/rendezvous.h"

namespace rt {

// (LOCAL_RANK, visible GPUs, CUDA_VISIBLE_DEVICES set) -> GPU index, as torchrun and Slurm
// users expect.
TEST(GpuForLocalRank, OneVisibleGpuIsTheTasksOwn) {
  // srun --gpus-per-task=1 (or CUDA_VISIBLE_DEVICES per rank): each task sees one GPU, index 0.
  for (int local_rank : {0, 1, 3, 7}) EXPECT_EQ(gpu_for_local_rank(local_rank, 1, true), 0) << local_rank;
  // A one-GPU host without narrowing: local rank 0 takes it; a second worker has none.
  EXPECT_EQ(gpu_for_local_rank(0, 1, false), 0);
  EXPECT_THROW(gpu_for_local_rank(1, 1, false), UserError);
}

TEST(GpuForLocalRank, SeveralVisibleGpusAreSharedOutByLocalRank) {
  // torchrun --nproc-per-node 8 on an 8-GPU host; or 2 workers on a 4-GPU host.
  for (int visible : {2, 4, 8}) {
    for (int local_rank = 0; local_rank < visible; ++local_rank) {
      for (bool narrowed : {false, true}) {
        EXPECT_EQ(gpu_for_local_rank(local_rank, visible, narrowed), local_rank) << local_rank << " of " << visible;
      }
    }
  }
}

TEST(GpuForLocalRank, MoreWorkersThanGpusOrNoGpuIsAUserError) {
  EXPECT_THROW(gpu_for_local_rank(2, 2, false), UserError);
  EXPECT_THROW(gpu_for_local_rank(8, 4, true), UserError);
  EXPECT_THROW(gpu_for_local_rank(0, 0, false), UserError);
  try {
    gpu_for_local_rank(4, 4, false);
    ADD_FAILURE() << "local rank 4 of 4 GPUs was given one";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("local rank 4 has no GPU: 4 CUDA devices"), std::string::npos) << e.what();
  }
}

TEST(DistEnvTest, ReadsTorchrunsRestartCount) {
  unsetenv("TORCHELASTIC_RESTART_COUNT");
  EXPECT_EQ(read_dist_env().restart_count, 0);
  setenv("TORCHELASTIC_RESTART_COUNT", "2", 1);
  EXPECT_EQ(read_dist_env().restart_count, 2);
  setenv("TORCHELASTIC_RESTART_COUNT", "-1", 1);
  EXPECT_THROW(read_dist_env(), UserError);
  unsetenv("TORCHELASTIC_RESTART_COUNT");
  // And whether its agent restarts workers at all (then a worker resumes from --out's checkpoint).
  unsetenv("TORCHELASTIC_MAX_RESTARTS");
  EXPECT_EQ(read_dist_env().max_restarts, 0);
  setenv("TORCHELASTIC_MAX_RESTARTS", "3", 1);
  EXPECT_EQ(read_dist_env().max_restarts, 3);
  unsetenv("TORCHELASTIC_MAX_RESTARTS");
}

// Under torchrun the agent hosts one store for the whole job (Note [A store for each round]).
// The workers of a round meet in a store their rank 0 serves, whatever restart count each
// agent gives them (a restarted node counts 1, the others 0); the next round meets again,
// though the agent's store still names the first round's store, which is gone by then.
TEST(Rendezvous, TorchrunRoundsMeetWhateverTheirRestartCounts) {
  const int port = free_local_port();
  c10d::TCPStoreOptions agent_opts;
  agent_opts.port = static_cast<uint16_t>(port);
  agent_opts.isServer = true;
  agent_opts.waitWorkers = false;
  agent_opts.timeout = std::chrono::seconds(30);
  const auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", agent_opts);
  const auto round = [&](int restart_count_of_rank1) {
    std::vector<std::thread> ranks;
    std::vector<std::string> errors(2);
    for (int r = 0; r < 2; ++r) {
      ranks.emplace_back([&, r] {
        try {
          DistEnv env;
          env.rank = r;
          env.world_size = 2;
          env.master_port = port;
          env.agent_store = true;
          env.launcher = "torchrun";
          env.restart_count = r == 1 ? restart_count_of_rank1 : 0;
          auto comm = make_communicator(env, "gloo", torch::kCPU, std::chrono::seconds(30));
          auto t = torch::full({1}, static_cast<float>(r + 1));
          comm->allreduce_sum(t, "allreduce of the test");
          if (t.item<float>() != 3.0f) throw std::runtime_error("allreduce gave " + std::to_string(t.item<float>()));
        } catch (const std::exception& e) {
          errors[static_cast<size_t>(r)] = e.what();
        }
      });
    }
    for (auto& t : ranks) t.join();
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
  };
  round(1);
  ASSERT_TRUE(agent->check({"ringtrain/round_store"}));
  const auto first = agent->get("ringtrain/round_store");
  round(0);  // rank 1's agent restarted first; now rank 0's, and the other counts 0
  EXPECT_NE(agent->get("ringtrain/round_store"), first);
  // The rounds' own keys stay in their own stores, never in the agent's.
  for (int r = 0; r < 2; ++r) EXPECT_FALSE(agent->check({"ringtrain/heartbeat/" + std::to_string(r)})) << r;
}

// The job's identity under torchrun's shared store: the first worker's, read by every later
// one in any attempt; another job (another store) has another.
TEST(Rendezvous, TorchrunJobIdentityLivesAsLongAsItsStore) {
  const auto serve = [](int port) {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(port);
    o.isServer = true;
    o.waitWorkers = false;
    o.timeout = std::chrono::seconds(30);
    return c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
  };
  DistEnv env;
  env.launcher = "torchrun";
  env.agent_store = true;
  env.master_port = free_local_port();
  std::string a, b, c;
  {
    const auto store = serve(env.master_port);
    a = job_identity(env, std::chrono::seconds(30));
    env.rank = 1;
    env.restart_count = 2;
    b = job_identity(env, std::chrono::seconds(30));
  }
  env.master_port = free_local_port();
  {
    const auto store = serve(env.master_port);
    c = job_identity(env, std::chrono::seconds(30));
  }
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.rfind("torchrun:", 0), 0u) << a;
  // Elsewhere: RINGTRAIN_JOB_ID as given; torchrun with a store per round: its --rdzv-id, or
  // none for the default "none"; a lone process: its own.
  DistEnv lone;
  EXPECT_NE(job_identity(lone, std::chrono::seconds(1)), job_identity(lone, std::chrono::seconds(1)));
  lone.job_id = "slurm-42";
  EXPECT_EQ(job_identity(lone, std::chrono::seconds(1)), "slurm-42");
  DistEnv own_store;
  own_store.launcher = "torchrun";
  own_store.run_id = "none";
  EXPECT_EQ(job_identity(own_store, std::chrono::seconds(1)), "");
  own_store.run_id = "exp-7";
  EXPECT_EQ(job_identity(own_store, std::chrono::seconds(1)), "torchrun:exp-7");
}

}  // namespace rt
