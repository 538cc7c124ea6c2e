// Side-by-side comparison of finished training runs (`ringtrain report RUN_A RUN_B ...`):
// world size, global batch, lr, epochs, wall time, images/s, speedup and parallel efficiency
// against the first run, final and best test accuracy, exposed communication.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

// Reads each run folder's metrics.json (a finished run) and builds
// {"baseline": dirs[0], "runs": [{run, model, world_size, global_batch, lr, epochs,
//   wall_seconds, images_per_second, speedup, efficiency, test_accuracy, best_test_accuracy,
//   exposed_comm_share}, ...]}.
// speedup = images_per_second / the first run's; efficiency = speedup / (world_size / the
// first run's world_size). Throws UserError naming a folder that is not a finished run.
nlohmann::json compare_runs(const std::vector<std::string>& run_dirs);

// The comparison as a Markdown table (with a line saying what the ratios are against).
std::string comparison_markdown(const nlohmann::json& comparison);

}  // namespace rt
