#include "core/config.h"

#include <algorithm>
#include <cmath>

#include "core/config_table.h"
#include "core/errors.h"
#include "core/recipes.h"
#include "core/trace.h"

namespace rt {

nlohmann::json to_json(const Config& c) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : config_fields()) std::visit([&](auto member) { j[f.key] = c.*member; }, f.member);
  return j;
}

Config config_from_json(const nlohmann::json& j) {
  RT_CHECK_USER(j.is_object(), "a configuration must be a JSON object, got {}", j.type_name());
  Config c;
  const nlohmann::json defaults = to_json(c);
  for (const auto& [key, value] : j.items()) {
    // "environment" is what a run's config.json records about where it ran, not an option.
    RT_CHECK_USER(defaults.contains(key) || key == "environment", "unknown configuration key '{}'", key);
  }
  try {
    for (const auto& f : config_fields()) {
      if (j.contains(f.key)) std::visit([&](auto member) { j.at(f.key).get_to(c.*member); }, f.member);
    }
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("bad configuration value: {}", e.what()));
  }
  return c;
}

void validate(const Config& c) {
  // Every number must be finite: `--lr inf` would pass `--lr > 0` and run until it diverged.
  for (const auto& f : config_fields()) {
    if (const auto* member = std::get_if<double Config::*>(&f.member)) {
      RT_CHECK_USER(std::isfinite(c.**member), "{} must be a finite number, got {}", f.flag(), c.**member);
    }
  }
  RT_CHECK_USER(c.epochs > 0, "--epochs must be positive, got {}", c.epochs);
  RT_CHECK_USER(c.batch_size > 0, "--batch-size must be positive, got {}", c.batch_size);
  RT_CHECK_USER(c.eval_batch_size > 0, "--eval-batch-size must be positive, got {}", c.eval_batch_size);
  RT_CHECK_USER(c.lr > 0, "--lr must be positive, got {}", c.lr);
  RT_CHECK_USER(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1), got {}", c.momentum);
  RT_CHECK_USER(!c.nesterov || c.momentum > 0, "--nesterov needs a positive --momentum");
  RT_CHECK_USER(c.weight_decay >= 0, "--weight-decay must be >= 0, got {}", c.weight_decay);
  RT_CHECK_USER(c.limit_train >= 0 && c.limit_test >= 0, "--limit-train/--limit-test must be >= 0 (0 = whole split)");
  RT_CHECK_USER(c.num_classes >= 2, "--num-classes must be at least 2, got {}", c.num_classes);
  const std::vector<std::string> schedules = {"multistep", "cosine", "onecycle", "constant"};
  RT_CHECK_USER(std::count(schedules.begin(), schedules.end(), c.schedule) == 1,
                "--schedule must be one of multistep, cosine, onecycle, constant; got '{}'", c.schedule);
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
  RT_CHECK_USER(c.label_smoothing >= 0 && c.label_smoothing < 1, "--label-smoothing must be in [0, 1), got {}",
                c.label_smoothing);
  RT_CHECK_USER(c.threads >= 0, "--threads must be >= 0 (0 = all cores), got {}", c.threads);
  RT_CHECK_USER(c.device == "auto" || c.device == "cpu" || c.device == "cuda",
                "--device must be auto, cpu or cuda; got '{}'", c.device);
  RT_CHECK_USER(c.log_every >= 0, "--log-every must be >= 0, got {}", c.log_every);
  RT_CHECK_USER(c.nproc >= 0 && c.nproc <= 1024, "--nproc must be in 0..1024, got {}", c.nproc);
  RT_CHECK_USER(c.backend == "auto" || c.backend == "gloo" || c.backend == "nccl",
                "--backend must be auto, gloo or nccl; got '{}'", c.backend);
  RT_CHECK_USER(c.bucket_mb > 0, "--bucket-mb must be positive, got {}", c.bucket_mb);
  RT_CHECK_USER(c.grad_accum >= 1, "--grad-accum must be at least 1, got {}", c.grad_accum);
  RT_CHECK_USER(c.lr_ref_batch >= 1, "--lr-ref-batch must be at least 1, got {}", c.lr_ref_batch);
  RT_CHECK_USER(c.timeout > 0, "--timeout must be positive seconds, got {}", c.timeout);
  RT_CHECK_USER(c.max_restarts >= 0, "--max-restarts must be >= 0, got {}", c.max_restarts);
  RT_CHECK_USER(c.max_restarts == 0 || c.nproc > 0, "--max-restarts needs the built-in launcher (--nproc N)");
  const auto [trace_first, trace_last] = parse_step_range(c.trace_steps, "--trace-steps");  // throws if malformed
  RT_CHECK_USER(trace_last - trace_first < 1000,
                "--trace-steps {}: at most 1000 steps (a trace keeps every event "
                "in memory until the range is done); trace a shorter range",
                c.trace_steps);
  RT_CHECK_USER(c.checkpoint_every >= 0, "--checkpoint-every must be >= 0 steps, got {}", c.checkpoint_every);
  RT_CHECK_USER(c.keep_checkpoints >= 1, "--keep-checkpoints must be at least 1, got {}", c.keep_checkpoints);
  RT_CHECK_USER(c.amp == "auto" || c.amp == "bf16" || c.amp == "none", "--amp must be auto, bf16 or none, got '{}'",
                c.amp);
  RT_CHECK_USER(!c.cuda_graph || c.grad_accum == 1,
                "--cuda-graph replays one whole micro-batch step: it cannot be combined with --grad-accum {}; "
                "drop one of them",
                c.grad_accum);
  if (!c.recipe.empty()) recipe_options(c.recipe);  // throws naming the known recipes
  RT_CHECK_USER(c.prefetch >= 1, "--prefetch must be at least 1, got {}", c.prefetch);
}

}  // namespace rt
