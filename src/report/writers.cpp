#include "report/writers.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/files.h"

namespace rt {

void write_json_file(const std::string& path, const nlohmann::json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

nlohmann::json read_json_file(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  try {
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
}

void write_confusion_csv(const std::string& path, const std::vector<std::vector<int64_t>>& counts,
                         const std::vector<std::string>& class_names) {
  std::string csv = "true\\predicted";
  for (const auto& n : class_names) csv += "," + n;
  csv += "\n";
  for (size_t t = 0; t < counts.size(); ++t) {
    csv += class_names.at(t);
    for (int64_t v : counts[t]) csv += fmt::format(",{}", v);
    csv += "\n";
  }
  write_file_atomic(path, csv);
}

}  // namespace rt
