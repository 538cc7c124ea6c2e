#include "report/compare.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "report/records.h"
#include "report/writers.h"

namespace rt {

namespace {

// The folder's own name ("runs/a/" -> "a").
std::string run_label(const std::string& dir) {
  auto p = std::filesystem::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

nlohmann::json compare_runs(const std::vector<std::string>& run_dirs) {
  RT_CHECK_USER(!run_dirs.empty(), "report: name at least one run folder");
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& dir : run_dirs) {
    RT_CHECK_USER(dir_exists(dir), "{}: no such run folder", dir);
    const std::string file = dir + "/metrics.json";
    RT_CHECK_USER(file_exists(file),
                  "{} has no metrics.json: the run has not finished (resume it with `ringtrain train --resume {}`)",
                  dir, dir);
    const RunMetrics m = read_run_metrics(file);
    try {
      runs.push_back({{"run", dir},
                      {"model", m.model},
                      {"world_size", m.world_size},
                      {"global_batch", m.global_batch},
                      {"lr", m.environment.value("scaled_lr", 0.0)},
                      {"epochs", m.epochs},
                      {"wall_seconds", m.total_seconds},
                      {"images_per_second", m.train_images_per_second},
                      {"test_accuracy", m.test_accuracy},
                      {"best_test_accuracy", m.best_test_accuracy},
                      {"exposed_comm_share", m.comm_last_epoch.exposed_comm_share},
                      {"backend", m.environment.value("backend", std::string("none"))},
                      {"precision", m.environment.value("precision", std::string("fp32"))}});
    } catch (const nlohmann::json::exception& e) {
      throw UserError(fmt::format("{}: its environment record is damaged ({})", file, e.what()));
    }
  }
  const double base_ips = runs[0].at("images_per_second").get<double>();
  const double base_world = runs[0].at("world_size").get<double>();
  for (auto& r : runs) {
    const double speedup = base_ips > 0 ? r.at("images_per_second").get<double>() / base_ips : 0;
    r["speedup"] = speedup;
    r["efficiency"] = speedup / (r.at("world_size").get<double>() / base_world);
  }
  return {{"baseline", run_dirs[0]}, {"runs", runs}};
}

std::string comparison_markdown(const nlohmann::json& comparison) {
  std::string md = fmt::format("Speedup and efficiency are against the first run ({}), from training images/s.\n\n",
                               comparison.at("baseline").get<std::string>());
  md +=
      "| run | model | world size | global batch | lr | epochs | wall time | images/s | speedup | efficiency | "
      "final acc | best acc | exposed comm |\n";
  md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : comparison.at("runs")) {
    md += fmt::format(
        "| {} | {} | {} | {} | {:.4g} | {} | {:.1f} s | {:.1f} | {:.2f}x | {:.0f}% | {:.2f}% | {:.2f}% | {:.1f}% |\n",
        run_label(r.at("run").get<std::string>()), r.at("model").get<std::string>(), r.at("world_size").get<int64_t>(),
        r.at("global_batch").get<int64_t>(), r.at("lr").get<double>(), r.at("epochs").get<int64_t>(),
        r.at("wall_seconds").get<double>(), r.at("images_per_second").get<double>(), r.at("speedup").get<double>(),
        100 * r.at("efficiency").get<double>(), 100 * r.at("test_accuracy").get<double>(),
        100 * r.at("best_test_accuracy").get<double>(), 100 * r.at("exposed_comm_share").get<double>());
  }
  return md;
}

}  // namespace rt
