// Writers for the files of a run folder: JSON (pretty, atomic) and the confusion matrix CSV.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

void write_json_file(const std::string& path, const nlohmann::json& j);
nlohmann::json read_json_file(const std::string& path);

// CSV with a header row "true\predicted,<class>..." and one row per true class.
void write_confusion_csv(const std::string& path, const std::vector<std::vector<int64_t>>& counts,
                         const std::vector<std::string>& class_names);

}  // namespace rt
