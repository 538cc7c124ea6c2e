// The membership log of an elastic job (membership.jsonl in the run folder): one JSON line per
// change in its workers. The built-in launcher (parallel/launcher.h) appends "start", "failure"
// and "drop"; rank 0 of each attempt appends "resume" (train/run_outputs.h); metrics.json
// carries the events read back (report/records.h). One record and one JSON mapping for all three.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

constexpr const char* kMembershipLogFile = "membership.jsonl";
constexpr const char* kLastStepFile = "last_step";  // where rank 0 keeps its last finished step

struct MembershipEvent {
  double seconds = 0;  // since the job began
  std::string event;   // "start", "failure", "drop" (the launcher's) or "resume" (rank 0's)
  int64_t world_size = 0;
  std::vector<int64_t> slots;                   // the workers' slots (LOCAL_RANK) from then on
  int64_t slot = -1, rank = -1, exit_code = 0;  // failure and drop: whose, and how it ended
  int64_t step = -1;        // failure: the last step finished before it; resume: the step resumed from
  int64_t lost_steps = -1;  // failure: steps done again after it (its step - the next resume's)
};
void to_json(nlohmann::json& j, const MembershipEvent& e);
void from_json(const nlohmann::json& j, MembershipEvent& e);

// Appends `e` as one line to the log at `path`.
void append_membership_event(const std::string& path, const MembershipEvent& e);

// The log at `path` ({} if there is none), with each failure's lost_steps computed from the
// "resume" that follows it. UserError naming the line when one is not an event.
std::vector<MembershipEvent> read_membership_log(const std::string& path);

}  // namespace rt
