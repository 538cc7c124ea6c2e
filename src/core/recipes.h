// Named presets of training options (--recipe NAME): a recipe is a set of Config keys applied
// over the defaults; a --config file and the flags given override it, key by key. The run's
// config.json records the recipe's name next to the values it ended up with.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

struct Recipe {
  std::string name;
  std::string summary;     // one line for --help and docs
  nlohmann::json options;  // Config keys -> values
};

const std::vector<Recipe>& recipes();
std::vector<std::string> recipe_names();
// The recipe's options with "recipe": name added; throws UserError naming the known recipes.
nlohmann::json recipe_options(const std::string& name);

}  // namespace rt
