#include "core/membership.h"

#include <algorithm>
#include <fstream>

#include "core/errors.h"

namespace rt {

void to_json(nlohmann::json& j, const MembershipEvent& e) {
  j = {{"seconds", e.seconds}, {"event", e.event}, {"world_size", e.world_size}};
  if (e.event != "resume") j["slots"] = e.slots;
  if (e.event == "failure" || e.event == "drop") {
    j["slot"] = e.slot;
    j["rank"] = e.rank;
    j["exit_code"] = e.exit_code;
  }
  if (e.event == "failure" || e.event == "resume") j["step"] = e.step;
  if (e.event == "failure") j["lost_steps"] = e.lost_steps;
}

void from_json(const nlohmann::json& j, MembershipEvent& e) {
  e.seconds = j.at("seconds").get<double>();
  e.event = j.at("event").get<std::string>();
  e.world_size = j.at("world_size").get<int64_t>();
  e.slots = j.value("slots", std::vector<int64_t>());
  e.slot = j.value("slot", int64_t{-1});
  e.rank = j.value("rank", int64_t{-1});
  e.exit_code = j.value("exit_code", int64_t{0});
  e.step = j.value("step", int64_t{-1});
  e.lost_steps = j.value("lost_steps", int64_t{-1});
}

void append_membership_event(const std::string& path, const MembershipEvent& e) {
  std::ofstream out(path, std::ios::app);
  out << nlohmann::json(e).dump() << "\n";
}

std::vector<MembershipEvent> read_membership_log(const std::string& path) {
  std::vector<MembershipEvent> events;
  std::ifstream in(path);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      events.push_back(nlohmann::json::parse(line).get<MembershipEvent>());
    } catch (const nlohmann::json::exception& e) {
      throw UserError(fmt::format("{} line {} is not a membership event ({})", path, n, e.what()));
    }
  }
  for (size_t i = 0; i < events.size(); ++i) {  // a failure loses the steps after the checkpoint resumed next
    if (events[i].event != "failure" || events[i].step < 0) continue;
    for (size_t k = i + 1; k < events.size(); ++k) {
      if (events[k].event == "resume") {
        events[i].lost_steps = std::max<int64_t>(0, events[i].step - events[k].step);
        break;
      }
    }
  }
  return events;
}

}  // namespace rt
