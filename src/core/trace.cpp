#include "core/trace.h"

#include <cctype>

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

namespace {

// Reads a step number at text[*i]: spaces, then 1 to 12 digits. False (no number) otherwise.
bool read_step(const std::string& text, size_t* i, int64_t* out) {
  while (*i < text.size() && std::isspace(static_cast<unsigned char>(text[*i])) != 0) ++*i;
  const size_t start = *i;
  int64_t value = 0;
  while (*i < text.size() && std::isdigit(static_cast<unsigned char>(text[*i])) != 0) {
    if (*i - start == 12) return false;  // 13 digits or more: past any step count, and past int64 soon
    value = value * 10 + (text[*i] - '0');
    ++*i;
  }
  if (*i == start) return false;
  while (*i < text.size() && std::isspace(static_cast<unsigned char>(text[*i])) != 0) ++*i;
  *out = value;
  return true;
}

}  // namespace

// "FIRST" or "FIRST-LAST", each 1 to 12 digits, spaces allowed around them: a hand parser, as
// std::regex recurses per character and a long value overflowed the stack.
std::pair<int64_t, int64_t> parse_step_range(const std::string& text, const std::string& flag) {
  // The message shows at most 40 characters of what was given.
  const std::string shown = text.size() > 40 ? text.substr(0, 37) + "..." : text;
  size_t i = 0;
  int64_t first = 0, last = 0;
  bool ok = read_step(text, &i, &first);
  if (ok && i < text.size() && text[i] == '-') {
    ++i;
    ok = read_step(text, &i, &last);
  } else {
    last = first;
  }
  RT_CHECK_USER(ok && i == text.size(), "{} '{}': expected FIRST-LAST optimiser steps, e.g. 3-6", flag, shown);
  RT_CHECK_USER(first >= 1 && last >= first, "{} '{}': steps count from 1 and LAST must be >= FIRST", flag, shown);
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
