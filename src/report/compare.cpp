#include "report/compare.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/errors.h"
#include "core/files.h"
#include "report/writers.h"

namespace rt {

namespace {

double number(const nlohmann::json& j, const char* key, const std::string& file) {
  RT_CHECK_USER(j.contains(key) && j.at(key).is_number(), "{} has no number \"{}\": not a metrics.json of `ringtrain train`",
                file, key);
  return j.at(key).get<double>();
}

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
    const auto m = read_json_file(file);
    RT_CHECK_USER(m.contains("world_size"),
                  "{} is not the metrics.json of a training run (an `eval` folder?); name the run folder", file);
    const auto& env = m.value("environment", nlohmann::json::object());
    const auto& comm = m.value("comm_last_epoch", nlohmann::json::object());
    runs.push_back({{"run", dir},
                    {"model", m.value("model", std::string("?"))},
                    {"world_size", static_cast<int64_t>(number(m, "world_size", file))},
                    {"global_batch", static_cast<int64_t>(number(m, "global_batch", file))},
                    {"lr", env.value("scaled_lr", 0.0)},
                    {"epochs", static_cast<int64_t>(number(m, "epochs", file))},
                    {"wall_seconds", number(m, "total_seconds", file)},
                    {"images_per_second", number(m, "train_images_per_second", file)},
                    {"test_accuracy", number(m, "test_accuracy", file)},
                    {"best_test_accuracy", number(m, "best_test_accuracy", file)},
                    {"exposed_comm_share", comm.is_object() ? comm.value("exposed_comm_share", 0.0) : 0.0},
                    {"backend", env.value("backend", std::string("none"))},
                    {"precision", env.value("precision", std::string("fp32"))}});
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
  md += "| run | model | world size | global batch | lr | epochs | wall time | images/s | speedup | efficiency | "
        "final acc | best acc | exposed comm |\n";
  md += "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : comparison.at("runs")) {
    md += fmt::format("| {} | {} | {} | {} | {:.4g} | {} | {:.1f} s | {:.1f} | {:.2f}x | {:.0f}% | {:.2f}% | {:.2f}% | {:.1f}% |\n",
                      run_label(r.at("run").get<std::string>()),
                      r.at("model").get<std::string>(), r.at("world_size").get<int64_t>(),
                      r.at("global_batch").get<int64_t>(), r.at("lr").get<double>(), r.at("epochs").get<int64_t>(),
                      r.at("wall_seconds").get<double>(), r.at("images_per_second").get<double>(),
                      r.at("speedup").get<double>(), 100 * r.at("efficiency").get<double>(),
                      100 * r.at("test_accuracy").get<double>(), 100 * r.at("best_test_accuracy").get<double>(),
                      100 * r.at("exposed_comm_share").get<double>());
  }
  return md;
}

}  // namespace rt
