// `ringtrain train`: parse the flags into a Config, merge a resumed run's configuration,
// validate, and train.
#include <cstdlib>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/config_file.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/recipes.h"
#include "parallel/launcher.h"
#include "parallel/rendezvous.h"
#include "train/checkpoint.h"
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
// --max-restarts K restarts them all from the newest checkpoint after a failure.
int launch_workers(const Config& cfg) {
  validate(cfg);
  LaunchSpec spec;
  spec.nproc = static_cast<int>(cfg.nproc);
  // Workers write into one folder chosen here; a restart resumes from its checkpoints.
  const std::string out = !cfg.out.empty() ? cfg.out : !cfg.resume.empty() ? cfg.resume : default_run_dir();
  std::vector<std::string> base = without_option(without_option(process_argv(), "--resume"), "--out");
  base.insert(base.end(), {"--out", out});
  spec.argv = base;
  if (!cfg.resume.empty()) spec.argv.insert(spec.argv.end(), {"--resume", cfg.resume});
  spec.max_restarts = static_cast<int>(cfg.max_restarts);
  spec.restart_argv = [base, out, first = spec.argv]() {
    if (checkpoint_files(out).empty()) return first;  // failed before any checkpoint
    auto argv = base;
    argv.insert(argv.end(), {"--resume", out});
    return argv;
  };
  spec.threads_per_worker = static_cast<int>(cfg.threads);  // 0: the launcher splits the cores
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
  std::string recipe_help = "Named preset of options; --config and the flags given override it:";
  for (const auto& r : recipes()) recipe_help += "\n  " + r.name + ": " + r.summary;
  o->add("--recipe", &Config::recipe, recipe_help)->check(CLI::IsMember(recipe_names()));
  o->add("--data", &Config::data, "CIFAR-10 folder: binary batches or train/ and test/ image folders");
  o->add("--limit-train", &Config::limit_train, "Use a class-balanced subset of N training images (0 = all)");
  o->add("--limit-test", &Config::limit_test, "Use a class-balanced subset of N test images (0 = all)");
  o->add("--augment", &Config::augment, "Random crop (pad 4) + horizontal flip: true|false");
  o->add("--model", &Config::model, "Model name (see `ringtrain models`)");
  o->add("--num-classes", &Config::num_classes, "Classes (must match the data)");
  o->add_flag("--zero-init-residual", &Config::zero_init_residual, "Zero-init the last BN of each residual block");
  o->add("--epochs", &Config::epochs, "Epochs to train");
  o->add("--batch-size", &Config::batch_size,
         "Images per worker per micro-batch (global batch = this x workers x --grad-accum)");
  o->add("--eval-batch-size", &Config::eval_batch_size, "Images per evaluation batch");
  o->add("--lr", &Config::lr, "Learning rate (peak; max for onecycle)");
  o->add("--momentum", &Config::momentum, "SGD momentum");
  o->add_flag("--nesterov", &Config::nesterov, "Nesterov momentum");
  o->add("--weight-decay", &Config::weight_decay, "L2 weight decay");
  o->add_flag("--no-decay-bn-bias", &Config::no_decay_bn_bias,
              "Exempt BatchNorm parameters and biases from weight decay");
  o->add("--schedule", &Config::schedule, "multistep | cosine | onecycle | constant");
  o->add("--milestones", &Config::milestones, "multistep: epochs where lr is multiplied by gamma")->delimiter(',');
  o->add("--gamma", &Config::gamma, "multistep: factor at each milestone");
  o->add("--warmup-epochs", &Config::warmup_epochs, "Linear warmup epochs (fractions allowed)");
  o->add("--label-smoothing", &Config::label_smoothing, "Cross-entropy label smoothing");
  o->add("--nproc", &Config::nproc, "Spawn N local workers (data-parallel; 0 = use the launcher's environment)");
  o->add("--max-restarts", &Config::max_restarts,
         "With --nproc: restart all workers from the newest checkpoint after a failure, up to K times");
  o->add("--backend", &Config::backend, "auto | gloo | nccl (auto: nccl on CUDA, gloo on CPU)");
  o->add("--bucket-mb", &Config::bucket_mb, "Gradient bucket cap in MB");
  o->add_flag("--sync-bn", &Config::sync_bn, "BatchNorm statistics over all ranks (SyncBatchNorm)");
  o->add("--grad-accum", &Config::grad_accum, "Micro-batches per optimiser step (one allreduce per step)");
  o->add("--lr-ref-batch", &Config::lr_ref_batch, "--lr is for this global batch; it is scaled linearly");
  o->add("--timeout", &Config::timeout, "Seconds for rendezvous and each collective");
  o->add_flag("--skip-nonfinite", &Config::skip_nonfinite,
              "Skip steps with a non-finite loss or gradient (counted) instead of stopping");
  o->add("--amp", &Config::amp, "Autocast precision: auto (bf16 where the hardware has it) | bf16 | none");
  o->add("--channels-last", &Config::channels_last, "Weights and inputs in channels_last (NHWC): true|false");
  o->add_flag("--cuda-graph", &Config::cuda_graph,
              "Capture forward + backward once as a CUDA graph and replay it (one process on CUDA)");
  o->add("--seed", &Config::seed, "Seed of initialisation, shuffling and augmentation");
  o->add("--threads", &Config::threads, "Compute threads (0 = all cores)");
  o->add("--device", &Config::device, "auto | cpu | cuda");
  o->add("--out", &Config::out, "Run folder (default runs/<timestamp>)");
  o->add("--resume", &Config::resume, "Continue the run in this folder from its checkpoint.pt");
  o->add("--checkpoint-every", &Config::checkpoint_every,
         "Also checkpoint every N optimiser steps (0 = per epoch only)");
  o->add("--keep-checkpoints", &Config::keep_checkpoints, "Checkpoints kept in the run folder");
  o->add("--log-every", &Config::log_every, "Steps between progress lines when not on a terminal (0 = auto)");
  o->add("--prefetch", &Config::prefetch, "Batches prepared ahead by the loader thread");
  o->add_flag("--tensorboard", &Config::tensorboard, "Write TensorBoard scalar event files to <out>/tensorboard");
  o->add("--trace", &Config::trace,
         "Write a Chrome/Perfetto trace (JSON) of the --trace-steps steps of every rank to this file");
  o->add("--trace-steps", &Config::trace_steps, "Optimiser steps to trace: FIRST-LAST, counted from 1");
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
      RT_CHECK_USER(layered.is_object(), "{}: a configuration must be a JSON or YAML mapping of options", *config_file);
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
    if (!layered.empty()) cfg = o->apply_given(config_from_json(layered));
    // torchrun restarts failed workers with the same arguments (TORCHELASTIC_RESTART_COUNT > 0):
    // a restarted attempt continues from the newest checkpoint in --out, as the built-in
    // launcher's --max-restarts does.
    std::string resume = cfg.resume;
    const DistEnv env = read_dist_env();
    if (resume.empty() && !cfg.out.empty() && env.restart_count > 0 && !checkpoint_files(cfg.out).empty()) {
      resume = cfg.out;
      if (env.rank == 0)
        print_line(fmt::format("ringtrain: torchrun restart {}: continuing from the newest checkpoint in {}",
                               env.restart_count, resume));
    }
    if (!resume.empty()) {
      // Continue with the run's own configuration; flags given now override it.
      const auto reader = CheckpointReader::open_newest(resume, torch::kCPU);
      cfg = o->apply_given(config_from_json(reader->meta().config));
      cfg.resume = resume;
      if (!o->given("--out")) cfg.out = resume;
    }
    // Built-in launcher: this process only starts and watches the workers.
    if (cfg.nproc > 0 && std::getenv(kWorkerEnv) == nullptr) return launch_workers(cfg);
    train(cfg);
    return 0;
  };
}

}  // namespace rt
