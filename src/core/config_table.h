// The one table of Config's options: for each field its key (the JSON and config-file key;
// with '-' for '_', the command-line flag), its help text, and whether it is an on/off switch.
// to_json, config_from_json, the finite-number check of validate() and `train`'s flags
// (cli/cmd_train.cpp) all come from it: a new option is its field in Config and one row here.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/config.h"

namespace rt {

struct ConfigField {
  using Member = std::variant<std::string Config::*, int64_t Config::*, uint64_t Config::*, double Config::*,
                              bool Config::*, std::vector<int64_t> Config::*>;
  const char* key;
  Member member;
  const char* help;
  bool is_switch = false;  // a flag without a value (--nesterov); other bools take true|false

  std::string flag() const;  // "--" + key, '_' -> '-'
};

// In the order `train --help` lists them.
const std::vector<ConfigField>& config_fields();

}  // namespace rt
