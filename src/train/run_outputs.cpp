#include "train/run_outputs.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <thread>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/membership.h"
#include "core/timer.h"
#include "device/torch_compat.h"
#include "parallel/launcher.h"
#include "parallel/rendezvous.h"
#include "report/plots.h"
#include "report/writers.h"

namespace rt {

double job_seconds() {
  const char* start = std::getenv(kJobStartEnv);
  return start && *start ? wall_clock_seconds() - std::atof(start) : -1;
}

bool job_restarted() {
  const char* attempt = std::getenv(kAttemptEnv);
  return attempt && std::atoi(attempt) > 0;
}

void log_attempt_start(int64_t step, int64_t world) {
  if (const char* file = std::getenv(kLastStepFileEnv); file && *file) {
    std::ofstream(file, std::ios::trunc) << step << "\n";  // nothing done yet in this attempt
  }
  const char* log = std::getenv(kMembershipLogEnv);
  if (!log || !*log) return;
  MembershipEvent resume;
  resume.seconds = job_seconds();
  resume.event = "resume";
  resume.world_size = world;
  resume.step = step;
  append_membership_event(log, resume);
  // After a failure the log ends: failure, [drop ...], start, resume (ours): say what it cost.
  const auto events = read_membership_log(log);
  for (size_t i = events.empty() ? 0 : events.size() - 1; i-- > 0;) {
    if (events[i].event == "drop" || events[i].event == "start") continue;
    if (events[i].event == "failure" && events[i].lost_steps >= 0) {
      log_info("the failure after step {} lost {} step{}: this attempt continues from step {}", events[i].step,
               events[i].lost_steps, events[i].lost_steps == 1 ? "" : "s", step);
    }
    break;
  }
}

std::string default_run_dir() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return std::string("runs/") + stamp;
}

nlohmann::json environment_json(const torch::Device& device) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  nlohmann::json j = {{"torch_version", torch_version_string()},
                      {"device", device.str()},
                      {"threads", at::get_num_threads()},
                      {"hardware_threads", std::thread::hardware_concurrency()},
                      {"hostname", host},
                      {"cuda_available", torch::cuda::is_available()}};
  if (device.is_cuda()) j["cuda_devices"] = torch::cuda::device_count();
  return j;
}

void write_evaluation_outputs(const std::string& dir, const EvalResult& result,
                              const std::vector<std::string>& class_names, const nlohmann::json& extra) {
  const ClassificationMetrics m = compute_metrics(result.confusion);
  nlohmann::json j = extra;
  j["test_loss"] = result.loss();
  j["test"] = metrics_to_json(m, class_names);
  j["test"]["confusion_matrix"] = result.confusion;  // [true][predicted] counts, as confusion_matrix.csv
  write_file_atomic(dir + "/classification_report.txt", classification_report(m, class_names));
  write_confusion_csv(dir + "/confusion_matrix.csv", result.confusion, class_names);
  write_json_file(dir + "/metrics.json", j);  // last: its presence marks a finished run
}

void write_plots_or_warn(const std::string& dir) {
  try {
    const auto written = write_run_plots(dir);
    if (!written.empty()) log_info("figures: {}", fmt::join(written, ", "));
  } catch (const std::exception& e) {
    log_warn("could not draw the figures of {}: {}; retry with: ringtrain report {}", dir, e.what(), dir);
  }
}

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

}  // namespace rt
