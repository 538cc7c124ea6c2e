#include "core/config_file.h"

#include <yaml-cpp/depthguard.h>  // defines: YAML::DeepRecursion
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <vector>

#include "core/errors.h"
#include "core/files.h"
#include "core/json_input.h"

namespace rt {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A YAML scalar as the JSON type it reads as: true/false, integer, number, or string.
nlohmann::json scalar_to_json(const YAML::Node& n) {
  if (n.Tag() == "!") return n.Scalar();  // quoted: always a string
  const std::string& s = n.Scalar();
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  try {
    size_t used = 0;
    const long long i = std::stoll(s, &used);
    if (used == s.size()) return i;
  } catch (const std::exception&) {
  }
  try {
    size_t used = 0;
    const double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return s;
}

// YAML -> JSON within Note [Config file limits]: `path` holds the nodes from the root to the
// one being converted (an alias that names one of them is a cycle), `nodes` counts the values
// made so far, aliases expanded.
class YamlToJson {
 public:
  explicit YamlToJson(const std::string& name) : name_(name) {}

  nlohmann::json convert(const YAML::Node& n) {
    ++nodes_;
    RT_CHECK_USER(nodes_ <= kMaxConfigNodes,
                  "{}: more than {} values once its aliases (*name) are expanded; a config file is one short "
                  "mapping of options: write the values out",
                  name_, kMaxConfigNodes);
    if (!n.IsMap() && !n.IsSequence()) return n.IsScalar() ? scalar_to_json(n) : nlohmann::json(nullptr);
    for (const auto& above : path_) {
      RT_CHECK_USER(!above.is(n),
                    "{}: line {}: an alias (*name) refers to a mapping or list that contains it; "
                    "a config file cannot be recursive",
                    name_, n.Mark().line + 1);
    }
    RT_CHECK_USER(path_.size() < static_cast<size_t>(kMaxConfigDepth),
                  "{}: line {}: nested deeper than {} levels; a config file is a flat mapping of options", name_,
                  n.Mark().line + 1, kMaxConfigDepth);
    path_.push_back(n);
    nlohmann::json j;
    if (n.IsMap()) {
      j = nlohmann::json::object();
      for (const auto& kv : n) {
        RT_CHECK_USER(kv.first.IsScalar(), "{}: line {}: a key must be a plain name, not a mapping or list", name_,
                      kv.first.Mark().line + 1);
        j[kv.first.Scalar()] = convert(kv.second);
      }
    } else {
      j = nlohmann::json::array();
      for (const auto& item : n) j.push_back(convert(item));
    }
    path_.pop_back();
    return j;
  }

 private:
  const std::string& name_;
  std::vector<YAML::Node> path_;
  int64_t nodes_ = 0;
};

nlohmann::json parse_yaml(const std::string& text, const std::string& name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion&) {  // yaml-cpp's own depth guard; its message reads "bad file"
    throw UserError(fmt::format("{}: nested deeper than {} levels; a config file is a flat mapping of options", name,
                                kMaxConfigDepth));
  } catch (const YAML::Exception& e) {
    throw UserError(fmt::format("{}: not valid YAML: {}", name, e.what()));
  }
  try {
    return YamlToJson(name).convert(root);
  } catch (const YAML::Exception& e) {
    throw UserError(fmt::format("{}: not valid YAML: {}", name, e.what()));
  }
}

}  // namespace

nlohmann::json parse_config_text(const std::string& text, ConfigSyntax syntax, const std::string& name) {
  RT_CHECK_USER(static_cast<int64_t>(text.size()) <= kMaxConfigFileBytes,
                "{} is larger than {} bytes; a config file is a short mapping of options", name, kMaxConfigFileBytes);
  const nlohmann::json j =
      syntax == ConfigSyntax::kYaml
          ? parse_yaml(text, name)
          : parse_json_input(text, name, kMaxConfigDepth, "a config file is a flat mapping of options");
  RT_CHECK_USER(j.is_object(), "{}: a config file must hold a mapping of option names to values", name);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : j.items()) {
    std::string k = key;
    std::replace(k.begin(), k.end(), '-', '_');
    if (k.rfind("__", 0) == 0) k = k.substr(2);  // "--batch-size" written as a key
    out[k] = value;
  }
  if (out.contains("environment")) {  // a run's config.json: re-running it makes a new run
    out.erase("environment");
    out.erase("out");
    out.erase("resume");
  }
  return out;
}

nlohmann::json read_config_file(const std::string& path) {
  const std::string text = read_file_at_most(path, kMaxConfigFileBytes, "a config file");
  const bool yaml = ends_with(path, ".yaml") || ends_with(path, ".yml");
  return parse_config_text(text, yaml ? ConfigSyntax::kYaml : ConfigSyntax::kJson, path);
}

}  // namespace rt
