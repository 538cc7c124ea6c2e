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

// Under torchrun the agent hosts the store and keeps it over restarts of the workers: each
// attempt's keys live under /worker/attempt_<TORCHELASTIC_RESTART_COUNT>/ (as PyTorch's env://
// rendezvous does), never where an earlier attempt left its own.
TEST(Rendezvous, TorchrunAgentStoreKeysArePrefixedPerAttempt) {
  const int port = free_local_port();
  c10d::TCPStoreOptions agent_opts;
  agent_opts.port = static_cast<uint16_t>(port);
  agent_opts.isServer = true;
  agent_opts.waitWorkers = false;
  agent_opts.timeout = std::chrono::seconds(30);
  const auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", agent_opts);
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
        env.restart_count = 3;
        auto comm = make_communicator(env, "gloo", torch::kCPU, std::chrono::seconds(30));
        comm->barrier("barrier of the test");
        // The heartbeat's first beat is written by its own thread: give it a moment.
        for (int i = 0; i < 100 && !agent->check({"/worker/attempt_3/ringtrain/heartbeat/" + std::to_string(r)}); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        comm->barrier("second barrier of the test");
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  for (int r = 0; r < 2; ++r) {
    EXPECT_TRUE(agent->check({"/worker/attempt_3/ringtrain/heartbeat/" + std::to_string(r)})) << r;
    EXPECT_FALSE(agent->check({"ringtrain/heartbeat/" + std::to_string(r)})) << r;
  }
}

}  // namespace rt
