// `ringtrain train`: parse the flags into a Config, merge a resumed run's configuration,
// validate, and train.
#include <cstdlib>

#include "checkpoint/checkpoint.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "core/config_file.h"
#include "core/config_table.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/membership.h"
#include "core/recipes.h"
#include "data/epoch_plan.h"
#include "parallel/launcher.h"
#include "parallel/rendezvous.h"
#include "train/resume_point.h"
#include "train/run_outputs.h"
#include "train/trainer.h"

namespace rt {

namespace {

// `argv` without any "--name VALUE" or "--name=VALUE".
std::vector<std::string> without_option(const std::vector<std::string>& argv, const std::string& name) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == name) {
      ++i;  // and its value
    } else if (argv[i].rfind(name + "=", 0) != 0) {
      out.push_back(argv[i]);
    }
  }
  return out;
}

// --nproc N: starts N workers of this binary (with the same flags) and watches them; with
// --max-restarts K restarts them all after a failure, with the same flags: the workers of
// job `job` continue from its newest checkpoint (train/resume_point.h).
int launch_workers(const Config& cfg, const std::string& job) {
  validate(cfg);
  LaunchSpec spec;
  spec.nproc = static_cast<int>(cfg.nproc);
  // Workers write into one folder chosen here.
  const std::string out = !cfg.out.empty() ? cfg.out : !cfg.resume.empty() ? cfg.resume : default_run_dir();
  std::vector<std::string> base = without_option(without_option(process_argv(), "--resume"), "--out");
  base.insert(base.end(), {"--out", out});
  spec.argv = base;
  if (!cfg.resume.empty()) spec.argv.insert(spec.argv.end(), {"--resume", cfg.resume});
  setenv("RINGTRAIN_JOB_ID", job.c_str(), 1);  // the workers', in every attempt
  spec.max_restarts = static_cast<int>(cfg.max_restarts);
  spec.threads_per_worker = static_cast<int>(cfg.threads);  // 0: the launcher splits the cores
  spec.min_nproc = static_cast<int>(cfg.min_nproc);
  if (cfg.global_batch > 0) {  // the world sizes that can share the global batch
    spec.world_ok = [g = cfg.global_batch, b = cfg.batch_size](int n) { return shares_global_batch(g, b, n); };
  }
  if (cfg.max_restarts > 0) {
    make_dirs(out);
    spec.membership_log = out + "/" + kMembershipLogFile;
    spec.last_step_file = out + "/" + kLastStepFile;
  }
  return launch_local_workers(spec);
}

}  // namespace

CommandRunner add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a model on CIFAR-10 (baseline: one process)");
  auto o = std::make_shared<ConfigOptions>(cmd);
  auto config_file = std::make_shared<std::string>();
  cmd->add_option(
      "--config", *config_file,
      "JSON or YAML file of options (keys as the flags; a run's config.json works); flags given override it");
  // Every option of Config, from the one table (core/config_table.h).
  for (const auto& field : config_fields()) o->add_field(field);
  std::string recipe_help = cmd->get_option("--recipe")->get_description();
  for (const auto& r : recipes()) recipe_help += "\n  " + r.name + ": " + r.summary;
  cmd->get_option("--recipe")->description(recipe_help)->check(CLI::IsMember(recipe_names()));
  cmd->footer(
      "Examples:\n"
      "  ringtrain train --data data/cifar10 --model resnet20 --epochs 1 --limit-train 5000 --limit-test 1000\n"
      "  ringtrain train --data data/cifar10 --model resnet50 --epochs 10 --device cuda\n"
      "  ringtrain train --data data/cifar10 --recipe fast --device cuda --cuda-graph\n"
      "  ringtrain train --data data/cifar10 --model resnet20 --nproc 2 --epochs 2\n"
      "  torchrun --nproc-per-node 2 --no-python ringtrain train --data data/cifar10 --model resnet20\n"
      "  ringtrain train --resume runs/20261125-101500 --epochs 12");
  return [o, config_file] {
    Config cfg = o->parsed();
    // Layers, each over the one before: defaults, the recipe, the --config file, the flags.
    nlohmann::json layered = nlohmann::json::object();
    if (!config_file->empty()) {
      RT_CHECK_USER(cfg.resume.empty(),
                    "--config and --resume cannot be combined: a resumed run keeps "
                    "its own configuration (give flags to override it)");
      layered = read_config_file(*config_file);
      // Every key and the type of every value checked here, naming the file: the layers below
      // read "recipe" from it, and a recipe's values would otherwise hide which file was wrong.
      config_from_json(layered, *config_file);
    }
    const std::string recipe = o->given("--recipe") ? cfg.recipe : layered.value("recipe", std::string());
    if (!recipe.empty()) {
      RT_CHECK_USER(cfg.resume.empty(),
                    "--recipe and --resume cannot be combined: a resumed run keeps "
                    "its own configuration (give flags to override it)");
      auto base = recipe_options(recipe);
      base.update(layered);
      base["recipe"] = recipe;
      layered = std::move(base);
    }
    if (!layered.empty())
      cfg = o->apply_given(config_from_json(layered, config_file->empty() ? "--recipe" : *config_file));
    // The resume point (train/resume_point.h). Launchers restart failed workers with the same
    // arguments (torchrun also starts every worker anew when a node leaves or joins): a worker
    // whose --out holds its own job's checkpoints continues from them.
    const DistEnv env = read_dist_env();
    const std::string job = job_identity(env, std::chrono::milliseconds(static_cast<int64_t>(cfg.timeout * 1000)));
    std::unique_ptr<CheckpointReader> newest_in_out;  // read once: for its job, and to continue it
    if (!cfg.out.empty() && !checkpoint_files(cfg.out).empty())
      newest_in_out = CheckpointReader::open_newest(cfg.out, torch::kCPU);
    const std::string resume =
        resume_dir({cfg.resume, cfg.out, newest_in_out ? std::optional(newest_in_out->meta().job) : std::nullopt, job});
    if (!resume.empty() && resume != cfg.resume && env.rank == 0)
      print_line(fmt::format("ringtrain: continuing this job ({} launch) from the newest checkpoint in {}",
                             env.launcher, resume));
    std::unique_ptr<CheckpointReader> reader;  // the checkpoint continued: read once, for its config and state
    if (!resume.empty()) {
      // Continue with the run's own configuration; flags given now override it.
      reader = newest_in_out && resume == cfg.out ? std::move(newest_in_out)
                                                  : CheckpointReader::open_newest(resume, torch::kCPU);
      cfg = o->apply_given(config_from_json(reader->meta().config, reader->path()));
      cfg.resume = resume;
      if (!o->given("--out")) cfg.out = resume;
    }
    // Built-in launcher: this process only starts and watches the workers.
    if (cfg.nproc > 0 && std::getenv(kWorkerEnv) == nullptr) {
      reader.reset();  // each worker reads it
      return launch_workers(cfg, job);
    }
    train(cfg, job, std::move(reader));
    return 0;
  };
}

}  // namespace rt
