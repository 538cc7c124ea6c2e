// --config FILE: a JSON or YAML file with the same keys as the flags (field names, e.g.
// batch_size or batch-size). A run's own config.json is a valid config file: its "environment"
// record is ignored, and so are its "out" and "resume", so that re-running it makes a new run.
//
// Note [Config file limits]: a config file is input from anywhere (a colleague's, a web
// page's), so nothing in it may crash, hang or exhaust the process: the file is read up to
// kMaxConfigFileBytes and refused past that; YAML's aliases are expanded into JSON only up to
// kMaxConfigNodes values in all (a "billion laughs" of nested aliases is refused, not
// expanded) and an alias inside the node it names (a cycle) is refused; and neither YAML nor
// JSON may nest deeper than kMaxConfigDepth. A real config is one mapping of ~60 scalars and
// a short list (milestones), far inside every limit.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace rt {

inline constexpr int64_t kMaxConfigFileBytes = 1 << 20;  // 1 MiB; a full config.json is ~2 KB
inline constexpr int kMaxConfigDepth = 32;               // a config is 2 deep (the "environment" record 3)
inline constexpr int64_t kMaxConfigNodes = 100000;       // values after expanding YAML's aliases

enum class ConfigSyntax { kJson, kYaml };

// Reads `path` (YAML for .yaml/.yml, else JSON) into a JSON object with keys as Config field
// names (dashes turned into underscores). Throws UserError naming the file, line and problem.
nlohmann::json read_config_file(const std::string& path);

// The same for text already in memory; `name` names it in messages (the path, for a file).
nlohmann::json parse_config_text(const std::string& text, ConfigSyntax syntax, const std::string& name);

}  // namespace rt
