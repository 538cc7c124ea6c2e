// `ringtrain scale`: measured scaling (the study itself is bench/scale_study.h): its flags,
// then scale.json, scale.md and the scaling figures in --out.
#include "cli/commands.h"
#include "cli/options.h"
#include "core/files.h"
#include "core/log.h"
#include "measure/scale_study.h"
#include "report/writers.h"
#include "train/run_outputs.h"

namespace rt {

namespace {

int run_scale(ScaleStudyOptions o, const std::vector<std::string>& train_args) {
  if (o.out.empty()) o.out = default_run_dir() + "-scale";
  o.program = process_argv().at(0);
  const ScaleResult result = run_scale_study(o, train_args);
  const std::string md = scale_markdown(result);
  write_json_file(o.out + "/scale.json", result);
  write_file_atomic(o.out + "/scale.md", md);
  print_line(md);
  print_line(fmt::format("wrote {0}/scale.json and {0}/scale.md", o.out));
  write_plots_or_warn(o.out);
  return 0;
}

}  // namespace

CommandRunner add_scale_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("scale", "Measure scaling over world sizes, fit and project the step-time model");
  auto o = std::make_shared<ScaleStudyOptions>();
  cmd->add_option("--nproc", o->nproc, "World sizes to run, starting with 1")->delimiter(',')->capture_default_str();
  cmd->add_flag("--weak", o->weak, "Weak scaling: --batch-size per worker (default: strong, --batch-size global)");
  auto flags = std::make_shared<SharedFlags>(cmd);  // the flags it shares with `train` (cli/options.h)
  flags->add("batch_size", o->batch_size, "Global batch (strong) or batch per worker (--weak)");
  flags->add("threads", o->threads, "Compute threads per worker");
  cmd->add_option("--out", o->out, "Folder for the runs, scale.json and scale.md (default runs/<time>-scale)");
  cmd->add_option("--project-to", o->project_to, "World sizes of the projection")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--links", o->links, "Links to project over: fitted (measured here), nvlink, ib, 100gbe, 10gbe")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--link-gbps", o->link_gbps, "Also project over a link of this bandwidth (Gbit/s)");
  cmd->add_option("--link-latency-us", o->link_latency_us, "Latency per hop of --link-gbps (microseconds)")
      ->capture_default_str();
  cmd->add_option("--compute-img-per-s", o->compute_images_per_second,
                  "Project with this training speed per worker (img/s) instead of the measured one");
  cmd->add_option("--allreduce-iters", o->allreduce_iters, "Timed allreduce iterations per size")
      ->capture_default_str();
  cmd->add_option("--rounds", o->rounds,
                  "Runs per world size, alternating (1, 2, 1, 2, ...): medians and the speedup's range")
      ->capture_default_str();
  cmd->footer(
      "Training flags go after --, e.g.\n"
      "  ringtrain scale --nproc 1,2 --batch-size 128 -- --data data/cifar10 --model resnet18 --epochs 2 --limit-train "
      "2560\n"
      "  ringtrain scale --nproc 1,2 --weak --batch-size 64 --link-gbps 25 -- --data data/cifar10 --model resnet50");
  return [o, flags] {
    flags->check();
    return run_scale(*o, passthrough_args());
  };
}

}  // namespace rt
