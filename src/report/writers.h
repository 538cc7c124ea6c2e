// Writers for the files of a run folder: JSON (pretty, atomic) and the confusion matrix CSV.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

// The largest JSON file ringtrain reads back (metrics.json of 1,000 classes is ~5 MB).
inline constexpr int64_t kMaxJsonFileBytes = int64_t{256} << 20;

void write_json_file(const std::string& path, const nlohmann::json& j);
// UserError naming the file when it is larger than kMaxJsonFileBytes, not JSON, or nested
// deeper than a file ringtrain writes (core/json_input.h).
nlohmann::json read_json_file(const std::string& path);

// One CSV field as RFC 4180 writes it: quoted when it holds a comma, a quote, CR or LF, its
// quotes doubled ("a,b" -> "\"a,b\"", 'say "hi"' -> '"say ""hi"""'); as it is otherwise.
std::string csv_field(const std::string& text);

// CSV with a header row "true\predicted,<class>..." and one row per true class.
void write_confusion_csv(const std::string& path, const std::vector<std::vector<int64_t>>& counts,
                         const std::vector<std::string>& class_names);

}  // namespace rt
