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

// The values a field takes (numbers and strings; none for the rest).
struct FieldRule {
  enum class Kind { kAny, kPositive, kNonNegative, kAtLeast, kUnitInterval, kBetween, kOneOf };
  Kind kind = Kind::kAny;
  double lo = 0, hi = 0;             // kAtLeast: lo; kBetween: lo..hi, both included
  std::vector<std::string> choices;  // kOneOf
};
FieldRule positive();           // > 0
FieldRule non_negative();       // >= 0
FieldRule at_least(double lo);  // >= lo
FieldRule unit_interval();      // in [0, 1)
FieldRule between(double lo, double hi);
FieldRule one_of(std::vector<std::string> choices);

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

}  // namespace rt
