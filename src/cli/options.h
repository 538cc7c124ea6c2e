// Binds Config fields to CLI11 options and remembers which were given on the command line,
// so that a resumed run or a checkpoint's configuration can be overridden flag by flag.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "core/config.h"

namespace rt {

class ConfigOptions {
 public:
  explicit ConfigOptions(CLI::App* cmd) : cmd_(cmd), parsed_(std::make_shared<Config>()) {}

  // Adds --flag bound to `field` of the parsed Config.
  template <typename T>
  CLI::Option* add(const std::string& flag, T Config::*field, const std::string& help) {
    auto* opt = cmd_->add_option(flag, (*parsed_).*field, help)->capture_default_str();
    setters_.push_back({opt, [field](Config& dst, const Config& src) { dst.*field = src.*field; }});
    return opt;
  }
  CLI::Option* add_flag(const std::string& flag, bool Config::*field, const std::string& help) {
    auto* opt = cmd_->add_flag(flag, (*parsed_).*field, help);
    setters_.push_back({opt, [field](Config& dst, const Config& src) { dst.*field = src.*field; }});
    return opt;
  }

  // The values as parsed (defaults where not given).
  const Config& parsed() const { return *parsed_; }
  // `base` with every option given on the command line applied over it.
  Config apply_given(Config base) const {
    for (const auto& s : setters_) {
      if (s.option->count() > 0) s.copy(base, *parsed_);
    }
    return base;
  }
  bool given(const std::string& flag) const { return cmd_->get_option(flag)->count() > 0; }

 private:
  struct Setter {
    CLI::Option* option;
    std::function<void(Config&, const Config&)> copy;
  };
  CLI::App* cmd_;
  std::shared_ptr<Config> parsed_;
  std::vector<Setter> setters_;
};

}  // namespace rt
