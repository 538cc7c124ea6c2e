#include "parallel/job.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "core/errors.h"
#include "core/log.h"
#include "parallel/launcher.h"

namespace rt {

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  const bool have_cuda = torch::cuda::is_available();
  if (name == "cuda") {
    RT_CHECK_USER(have_cuda, "--device cuda: no CUDA device is visible; use --device cpu");
    return torch::kCUDA;
  }
  return have_cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

int64_t set_compute_threads(int64_t threads) {
  const char* share = std::getenv(kWorkerThreadsEnv);
  const auto n = threads > 0 ? threads
                 : share     ? std::atoll(share)
                             : static_cast<int64_t>(std::thread::hardware_concurrency());
  at::set_num_threads(static_cast<int>(std::max<int64_t>(n, 1)));
  return at::get_num_threads();
}

torch::Device local_device(const std::string& name, int local_rank) {
  torch::Device d = resolve_device(name);
  if (!d.is_cuda()) return d;
  const torch::Device gpu(torch::kCUDA, static_cast<c10::DeviceIndex>(gpu_for_local_rank(
                                            local_rank, static_cast<int>(torch::cuda::device_count()),
                                            /*visible_set_per_task=*/std::getenv("CUDA_VISIBLE_DEVICES") != nullptr)));
  // The current device from here on, before any CUDA call (NCCL, the caching allocator and
  // cuDNN would otherwise start on GPU 0 in every process).
  c10::impl::getDeviceGuardImpl(gpu.type())->setDevice(gpu);
  return gpu;
}

Job join_job(const std::string& device, int64_t threads, const std::string& backend, double timeout_seconds) {
  Job job;
  job.env = read_dist_env();
  set_log_rank(job.env.rank);
  job.threads = set_compute_threads(threads);
  job.device = local_device(device, job.env.local_rank);
  job.comm = make_communicator(job.env, backend, job.device,
                               std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  return job;
}

}  // namespace rt
