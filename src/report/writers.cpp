#include "report/writers.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/files.h"
#include "core/json_input.h"

namespace rt {

void write_json_file(const std::string& path, const nlohmann::json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

nlohmann::json read_json_file(const std::string& path) {
  return parse_json_input(read_file_at_most(path, kMaxJsonFileBytes, "a ringtrain JSON record"), path);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

void write_confusion_csv(const std::string& path, const std::vector<std::vector<int64_t>>& counts,
                         const std::vector<std::string>& class_names) {
  std::string csv = "true\\predicted";
  for (const auto& n : class_names) csv += "," + csv_field(n);
  csv += "\n";
  for (size_t t = 0; t < counts.size(); ++t) {
    csv += csv_field(class_names.at(t));
    for (int64_t v : counts[t]) csv += fmt::format(",{}", v);
    csv += "\n";
  }
  write_file_atomic(path, csv);
}

}  // namespace rt
