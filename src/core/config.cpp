#include "core/config.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <variant>

#include "core/config_table.h"
#include "core/errors.h"
#include "core/grad_compression.h"
#include "core/recipes.h"
#include "core/trace.h"

namespace rt {

nlohmann::json to_json(const Config& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : config_fields()) std::visit([&](auto member) { j[f.key] = c.*member; }, f.member);
  return j;
}

namespace {

// The JSON type a field takes, for messages.
template <typename T>
const char* expected_type() {
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  if constexpr (std::is_same_v<T, bool>) return "true or false";
  if constexpr (std::is_same_v<T, int64_t>) return "a whole number";
  if constexpr (std::is_same_v<T, uint64_t>) return "a whole number >= 0";
  if constexpr (std::is_same_v<T, double>) return "a number";
  return "a list of whole numbers, e.g. [5, 8]";
}

bool fits_int64(const nlohmann::json& v) {
  return v.is_number_integer() &&
         (!v.is_number_unsigned() || v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

// Reads `v` into `out` when it has T's JSON type (no silent conversions: 2.5 is not an
// epoch count, and a number past int64 is not wrapped); false otherwise.
template <typename T>
bool read_value(const nlohmann::json& v, T& out) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return false;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return false;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (!fits_int64(v)) return false;
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) return false;
  } else if constexpr (std::is_same_v<T, double>) {
    if (!v.is_number()) return false;
  } else {
    if (!v.is_array() || !std::all_of(v.begin(), v.end(), fits_int64)) return false;
  }
  out = v.get<T>();
  return true;
}

// A value for a message: its type and, short and on one line, the value ("string \"ten\"").
std::string shown(const nlohmann::json& v) {
  if (v.is_null()) return "null";
  std::string text = v.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return std::string(v.type_name()) + " " + text;
}

}  // namespace

Config config_from_json(const nlohmann::json& j, const std::string& source) {
  RT_CHECK_USER(j.is_object(), "{}: a configuration must be a JSON object, got {}", source, j.type_name());
  Config c;
  const nlohmann::json defaults = to_json(c);
  for (const auto& [key, value] : j.items()) {
    // "environment" is what a run's config.json records about where it ran, not an option.
    RT_CHECK_USER(defaults.contains(key) || key == "environment", "{}: unknown configuration key '{}'", source,
                  key.size() > 40 ? key.substr(0, 37) + "..." : key);
  }
  for (const auto& f : config_fields()) {
    if (!j.contains(f.key)) continue;
    const nlohmann::json& v = j.at(f.key);
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(c.*member)>;
          RT_CHECK_USER(read_value(v, c.*member), "{}: '{}' must be {}, got {}", source, f.key, expected_type<T>(),
                        shown(v));
        },
        f.member);
  }
  return c;
}

void check_field(const ConfigField& f, const Config& c) {
  if (const auto* member = std::get_if<double Config::*>(&f.member)) {
    RT_CHECK_USER(std::isfinite(c.**member), "{} must be a finite number, got {}", f.flag(), c.**member);
  }
  using Kind = FieldRule::Kind;
  const FieldRule& r = f.rule;
  std::visit(
      [&](auto member) {
        using T = std::decay_t<decltype(c.*member)>;
        const T& v = c.*member;
        if constexpr (std::is_same_v<T, std::string>) {
          if (r.kind != Kind::kOneOf) return;
          RT_CHECK_USER(std::count(r.choices.begin(), r.choices.end(), v) == 1, "{} must be one of {}; got '{}'",
                        f.flag(), fmt::join(r.choices, ", "), v);
        } else if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
          const auto x = static_cast<double>(v);
          switch (r.kind) {
            case Kind::kPositive:
              RT_CHECK_USER(x > 0, "{} must be positive, got {}", f.flag(), v);
              break;
            case Kind::kNonNegative:
              RT_CHECK_USER(x >= 0, "{} must be >= 0, got {}", f.flag(), v);
              break;
            case Kind::kAtLeast:
              RT_CHECK_USER(x >= r.lo, "{} must be at least {}, got {}", f.flag(), r.lo, v);
              break;
            case Kind::kUnitInterval:
              RT_CHECK_USER(x >= 0 && x < 1, "{} must be in [0, 1), got {}", f.flag(), v);
              break;
            case Kind::kBetween:
              RT_CHECK_USER(x >= r.lo && x <= r.hi, "{} must be in {}..{}, got {}", f.flag(), r.lo, r.hi, v);
              break;
            default:
              break;
          }
          if (r.max_reason != nullptr) {
            RT_CHECK_USER(x <= r.max, "{} must be at most {}, got {} ({})", f.flag(), r.max, v, r.max_reason);
          }
        }
      },
      f.member);
}

void validate(const Config& c) {
  // Every number must be finite (`--lr inf` would pass `--lr > 0` and run until it diverged),
  // and each field in its own range (core/config_table.h).
  for (const auto& f : config_fields()) check_field(f, c);
  // What involves several fields.
  RT_CHECK_USER(!c.nesterov || c.momentum > 0, "--nesterov needs a positive --momentum");
  RT_CHECK_USER(c.num_classes != 1, "--num-classes must be 0 (the data's class count) or at least 2, got 1");
  GradCompression::parse(c.grad_compression);  // throws naming the choices
  if (c.schedule == "multistep") {
    for (size_t i = 0; i < c.milestones.size(); ++i) {
      RT_CHECK_USER(c.milestones[i] > 0, "--milestones must be positive epochs, got {}", c.milestones[i]);
      RT_CHECK_USER(i == 0 || c.milestones[i] > c.milestones[i - 1],
                    "--milestones must be strictly increasing, got {} after {}", c.milestones[i], c.milestones[i - 1]);
    }
    RT_CHECK_USER(c.gamma > 0 && c.gamma <= 1, "--gamma must be in (0, 1], got {}", c.gamma);
  }
  RT_CHECK_USER(c.warmup_epochs >= 0 && c.warmup_epochs < static_cast<double>(c.epochs),
                "--warmup-epochs must be in [0, epochs={}), got {}", c.epochs, c.warmup_epochs);
  RT_CHECK_USER(c.max_restarts == 0 || c.nproc > 0, "--max-restarts needs the built-in launcher (--nproc N)");
  if (c.min_nproc > 0) {
    RT_CHECK_USER(c.nproc > 0 && c.min_nproc <= c.nproc && c.max_restarts > 0,
                  "--min-nproc {} needs the built-in launcher with at least as many workers and restarts to go on "
                  "with (--nproc N >= {} --max-restarts K)",
                  c.min_nproc, c.min_nproc);
    RT_CHECK_USER(c.min_nproc == c.nproc || c.global_batch > 0,
                  "--min-nproc {} below --nproc {} changes the number of workers mid-run: add --global-batch G so "
                  "that fewer workers train alike and resume mid-epoch",
                  c.min_nproc, c.nproc);
  }
  const auto [trace_first, trace_last] = parse_step_range(c.trace_steps, "--trace-steps");  // throws if malformed
  RT_CHECK_USER(trace_last - trace_first < 1000,
                "--trace-steps {}: at most 1000 steps (a trace keeps every event "
                "in memory until the range is done); trace a shorter range",
                c.trace_steps);
  RT_CHECK_USER(!c.cuda_graph || c.grad_accum == 1,
                "--cuda-graph replays one whole micro-batch step: it cannot be combined with --grad-accum {}; "
                "drop one of them",
                c.grad_accum);
  RT_CHECK_USER(c.global_batch == 0 || c.grad_accum == 1,
                "--global-batch {} sets the accumulation itself (global batch / (batch size x workers)): drop "
                "--grad-accum {}",
                c.global_batch, c.grad_accum);
  RT_CHECK_USER(c.global_batch == 0 || !c.sync_bn,
                "--sync-bn normalises over every worker's batch, so its micro-batches change with the number of "
                "workers: it cannot be combined with --global-batch; drop one of them");
  RT_CHECK_USER(c.global_batch == 0 || !c.cuda_graph,
                "--cuda-graph replays one fixed micro-batch step: it cannot be combined with --global-batch; drop one "
                "of them");
  if (!c.recipe.empty()) recipe_options(c.recipe);  // throws naming the known recipes
}

}  // namespace rt
