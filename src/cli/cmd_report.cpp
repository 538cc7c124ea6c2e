// `ringtrain report RUN [RUN...]`: the figures of each run folder (PNG: training curves,
// per-class accuracy, confusion matrices, scaling plots) and, for several runs, a side-by-side
// comparison written as Markdown and JSON.
#include "cli/commands.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "report/compare.h"
#include "report/plots.h"
#include "report/writers.h"

namespace rt {

namespace {

struct ReportOptions {
  std::vector<std::string> runs;
  std::string out = ".";
  bool plots = true;
};

int run_report(const ReportOptions& o) {
  if (o.plots) {
    for (const auto& dir : o.runs) {
      const auto written = write_run_plots(dir);
      RT_CHECK_USER(!written.empty() || o.runs.size() > 1,
                    "{} holds none of history.json, metrics.json, scale.json: nothing to plot; name a folder "
                    "written by `ringtrain train`, `eval` or `scale`",
                    dir);
      for (const auto& f : written) print_line("wrote " + f);
    }
  }
  if (o.runs.size() < 2) return 0;
  const auto comparison = compare_runs(o.runs);
  const std::string md = comparison_markdown(comparison);
  make_dirs(o.out);
  write_file_atomic(o.out + "/comparison.md", md);
  write_json_file(o.out + "/comparison.json", comparison);
  print_line(md);
  print_line(fmt::format("wrote {0}/comparison.md and {0}/comparison.json", o.out));
  return 0;
}

}  // namespace

CommandRunner add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "report", "Plots of run folders (PNG) and, for several runs, a side-by-side comparison (Markdown, JSON)");
  auto o = std::make_shared<ReportOptions>();
  cmd->add_option("runs", o->runs, "Run folders (of train, eval or scale); the first is the baseline")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out, "Folder for comparison.md and comparison.json (several runs)")
      ->capture_default_str();
  cmd->add_flag("!--no-plots", o->plots, "Do not (re)draw the runs' PNG figures");
  cmd->footer(
      "Examples:\n  ringtrain report runs/one                 # figures of one run\n"
      "  ringtrain report runs/one runs/two --out runs   # + comparison, speedup against runs/one");
  return [o] { return run_report(*o); };
}

}  // namespace rt
