#include "core/config_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "core/errors.h"
#include "core/files.h"

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

nlohmann::json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& kv : n) j[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& item : n) j.push_back(yaml_to_json(item));
      return j;
    }
    case YAML::NodeType::Scalar:
      return scalar_to_json(n);
    default:
      return nullptr;
  }
}

}  // namespace

nlohmann::json read_config_file(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  const std::string text(bytes.begin(), bytes.end());
  nlohmann::json j;
  if (ends_with(path, ".yaml") || ends_with(path, ".yml")) {
    try {
      j = yaml_to_json(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      throw UserError(fmt::format("{}: not valid YAML: {}", path, e.what()));
    }
  } else {
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw UserError(fmt::format("{}: not valid JSON: {}", path, e.what()));
    }
  }
  RT_CHECK_USER(j.is_object(), "{}: a config file must hold a mapping of option names to values", path);
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

}  // namespace rt
