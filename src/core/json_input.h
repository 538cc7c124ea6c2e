// JSON read from a file, within limits (Note [JSON input limits]). Torch-free.
//
// Note [JSON input limits]: nlohmann's parser is iterative, but copying, comparing or printing
// a value recurses once per level, so a file of a million '[' would parse and then overflow the
// stack when used. The depth is checked as the parser opens each object or array, before that
// level is built; a file ringtrain writes is 3 to 4 levels deep.
#pragma once

#include <fmt/format.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "core/errors.h"

namespace rt {

inline constexpr int kMaxJsonDepth = 32;

// Parses `text`; UserError naming `name` (the file) for text that is not JSON, a number past
// a double's range, or nesting deeper than `max_depth` (the message ends with `hint`).
inline nlohmann::json parse_json_input(const std::string& text, const std::string& name, int max_depth = kMaxJsonDepth,
                                       const char* hint = "it is not a file ringtrain wrote") {
  const nlohmann::json::parser_callback_t limit_depth = [&](int depth, nlohmann::json::parse_event_t event,
                                                            nlohmann::json&) {
    if (event == nlohmann::json::parse_event_t::object_start || event == nlohmann::json::parse_event_t::array_start) {
      RT_CHECK_USER(depth < max_depth, "{}: nested deeper than {} levels; {}", name, max_depth, hint);
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, limit_depth);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    throw UserError(fmt::format("{}: not valid JSON ({})", name, e.what()));
  }
}

// A measured number of a record (a loss, a time): JSON has no NaN or infinity and nlohmann writes
// them as null (a diverged epoch's loss under --skip-nonfinite), so null reads back as NaN.
inline double json_number(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  return v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>();
}

}  // namespace rt
