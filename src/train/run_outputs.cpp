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

}  // namespace rt
