// Binds Config fields to CLI11 options and remembers which were given on the command line,
// so that a resumed run or a checkpoint's configuration can be overridden flag by flag.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/config.h"
#include "core/config_table.h"

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

  // Adds the flag of a row of the config table (core/config_table.h): a switch, a list
  // (comma-separated) or a value.
  CLI::Option* add_field(const ConfigField& f) {
    return std::visit(
        [&](auto member) -> CLI::Option* {
          using T = std::decay_t<decltype(std::declval<Config>().*member)>;
          if constexpr (std::is_same_v<T, bool>) {
            if (f.is_switch) return add_flag(f.flag(), member, f.help);
          }
          CLI::Option* opt = add(f.flag(), member, f.help);
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) opt->delimiter(',');
          return opt;
        },
        f.member);
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

// The flags that `eval`, `bench`, `scale` and `forecast` share with `train`: the same name,
// help and range, taken from the config table's row (core/config_table.h), bound to a
// variable of the command's own. One vocabulary of flags: `--threads` or `--amp` mean the same
// everywhere, and a value out of range gets the same line as `train` gives.
class SharedFlags {
 public:
  explicit SharedFlags(CLI::App* cmd) : cmd_(cmd) {}

  // --<key> bound to `target` (its value is the default shown); `help` replaces the row's where
  // the command says more (e.g. "default: as the run").
  template <typename T>
  CLI::Option* add(const std::string& key, T& target, const std::string& help = "") {
    const ConfigField& f = config_field(key);
    const auto member = std::get<T Config::*>(f.member);  // the variable's type is the row's
    CLI::Option* opt = nullptr;
    if constexpr (std::is_same_v<T, bool>) {
      if (f.is_switch) opt = cmd_->add_flag(f.flag(), target, help.empty() ? f.help : help);
    }
    if (!opt) opt = cmd_->add_option(f.flag(), target, help.empty() ? f.help : help)->capture_default_str();
    if constexpr (std::is_same_v<T, std::vector<int64_t>>) opt->delimiter(',');
    checks_.push_back([&f, member, opt, &target] {
      if (opt->count() == 0) return;  // a default may mean "as the run" (e.g. -1)
      Config c;
      c.*member = target;
      check_field(f, c);
    });
    return opt;
  }
  // Throws UserError for the first flag given out of its range.
  void check() const {
    for (const auto& c : checks_) c();
  }

 private:
  CLI::App* cmd_;
  std::vector<std::function<void()>> checks_;
};

}  // namespace rt
