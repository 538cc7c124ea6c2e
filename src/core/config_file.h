// --config FILE: a JSON or YAML file with the same keys as the flags (field names, e.g.
// batch_size or batch-size). A run's own config.json is a valid config file: its "environment"
// record is ignored, and so are its "out" and "resume", so that re-running it makes a new run.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace rt {

// Reads `path` (YAML for .yaml/.yml, else JSON) into a JSON object with keys as Config field
// names (dashes turned into underscores). Throws UserError naming the file, line and problem.
nlohmann::json read_config_file(const std::string& path);

}  // namespace rt
