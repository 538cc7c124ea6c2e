// The one table of Config's options: for each field its key (the JSON and config-file key;
// with '-' for '_', the command-line flag), its help text, whether it is an on/off switch, and
// the range of values it takes. to_json, config_from_json, validate() (every number finite,
// each field in its range; the checks that involve several fields stay in validate()) and
// `train`'s flags (cli/cmd_train.cpp) all come from it: a new option is its field in Config and
// one row here.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/config.h"

namespace rt {

// Note [Upper limits]: every count that sizes an allocation, a thread pool or a loop over
// data has an upper limit, checked in validate() for flags and config files alike (and by the
// other commands' flags of the same name), so that a slip of the keyboard (1280000 for 128) is
// one line naming the flag, its value and the range, never a hang, a bad_alloc or a crash deep
// inside. Each limit is far above any real use; the reason is in the message.
inline constexpr int64_t kMaxThreads = 1024;    // the largest machines have a few hundred cores
inline constexpr int64_t kMaxPrefetch = 64;     // batches held ready in memory, each a whole batch
inline constexpr int64_t kMaxImageSize = 4096;  // px per side: 4096^2 x 3 floats is 200 MB per image
inline constexpr int64_t kMaxBatch = 65536;     // images per (eval) batch: 805 MB of 32x32 floats
inline constexpr int64_t kMaxClasses = 100000;  // ImageNet-21k has 21,841; the head is classes x 2048
inline constexpr int64_t kMaxEpochs = 100000;   // recipes use 1-600
inline constexpr int64_t kMaxGradAccum = 4096;  // micro-batches per optimiser step
inline constexpr int64_t kMaxWorkers = 1024;    // processes of one job (--nproc, world size)
inline constexpr int64_t kMaxGlobalBatch = kMaxBatch * kMaxWorkers;
inline constexpr int64_t kMaxImages = 1000000000;              // --limit-train/--limit-test: 1e9 images
inline constexpr int64_t kMaxKeptCheckpoints = 1000;           // files kept in the run folder
inline constexpr int64_t kMaxRestarts = 1000;                  // restarts of the whole group
inline constexpr double kMaxBucketMb = 4096;                   // one gradient bucket (DDP's default is 25)
inline constexpr double kMaxTimeoutSeconds = 7 * 24 * 3600.0;  // one week

// The values a field takes (numbers and strings; none for the rest).
struct FieldRule {
  enum class Kind { kAny, kPositive, kNonNegative, kAtLeast, kUnitInterval, kBetween, kOneOf };
  Kind kind = Kind::kAny;
  double lo = 0, hi = 0;             // kAtLeast: lo; kBetween: lo..hi, both included
  std::vector<std::string> choices;  // kOneOf
  double max = 0;                    // with max_reason: the largest value taken (Note [Upper limits])
  const char* max_reason = nullptr;  // why there is a limit, for the message; nullptr: no limit

  // This rule with an upper limit as well, e.g. positive().at_most(kMaxBatch, "...").
  FieldRule at_most(double limit, const char* reason) const;
};
FieldRule positive();           // > 0
FieldRule non_negative();       // >= 0
FieldRule at_least(double lo);  // >= lo
FieldRule unit_interval();      // in [0, 1)
FieldRule between(double lo, double hi);
FieldRule one_of(std::vector<std::string> choices);

// Throws UserError "FLAG must be in LO..HI, got V (REASON)" unless lo <= value <= hi: the
// commands whose flags are not in the table (eval, bench, models, import) check theirs with it.
void check_flag_range(const std::string& flag, int64_t value, int64_t lo, int64_t hi, const char* reason);

struct ConfigField {
  using Member = std::variant<std::string Config::*, int64_t Config::*, uint64_t Config::*, double Config::*,
                              bool Config::*, std::vector<int64_t> Config::*>;
  const char* key;
  Member member;
  const char* help;
  bool is_switch = false;  // a flag without a value (--nesterov); other bools take true|false
  FieldRule rule = {};

  std::string flag() const;  // "--" + key, '_' -> '-'
};

// In the order `train --help` lists them.
const std::vector<ConfigField>& config_fields();
// The row of `key` (a programming error, std::logic_error, if there is none).
const ConfigField& config_field(const std::string& key);
// Throws UserError unless `c`'s value of `f` is in its range (and finite): "FLAG must be ...,
// got V". validate() checks every row; other commands' flags of the same name, theirs.
void check_field(const ConfigField& f, const Config& c);

}  // namespace rt
