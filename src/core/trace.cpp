#include "core/trace.h"

#include <regex>

#include "core/errors.h"

namespace rt {

void TraceRecorder::add(const std::string& name, int lane, Clock::time_point begin, Clock::time_point end,
                        nlohmann::json args) {
  nlohmann::json e = {{"name", name}, {"ph", "X"},           {"pid", rank_},
                      {"tid", lane},  {"ts", micros(begin)}, {"dur", std::max(0.0, micros(end) - micros(begin))}};
  if (!args.empty()) e["args"] = std::move(args);
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(e));
}

void TraceRecorder::name_lane(int lane, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", rank_}, {"tid", lane}, {"args", {{"name", name}}}});
  events_.push_back(
      {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", rank_}, {"tid", lane}, {"args", {{"sort_index", lane}}}});
}

std::string TraceRecorder::events_json() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json all = events_;
  all.push_back(
      {{"name", "process_name"}, {"ph", "M"}, {"pid", rank_}, {"args", {{"name", "rank " + std::to_string(rank_)}}}});
  all.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", rank_}, {"args", {{"sort_index", rank_}}}});
  return all.dump();
}

std::pair<int64_t, int64_t> parse_step_range(const std::string& text, const std::string& flag) {
  static const std::regex re(R"(^\s*(\d{1,12})\s*(?:-\s*(\d{1,12})\s*)?$)");
  std::smatch m;
  RT_CHECK_USER(std::regex_match(text, m, re), "{} '{}': expected FIRST-LAST optimiser steps, e.g. 3-6", flag, text);
  const int64_t first = std::stoll(m[1]);
  const int64_t last = m[2].matched ? std::stoll(m[2]) : first;
  RT_CHECK_USER(first >= 1 && last >= first, "{} '{}': steps count from 1 and LAST must be >= FIRST", flag, text);
  return {first, last};
}

nlohmann::json merge_trace(const std::vector<std::string>& rank_events) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& text : rank_events) {
    for (auto& e : nlohmann::json::parse(text)) events.push_back(std::move(e));
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

}  // namespace rt
