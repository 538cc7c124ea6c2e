// ringtrain: trains ResNets on CIFAR-10, on one device or data-parallel (see README.md).
// main() parses the command line, runs one subcommand, and turns errors into one line on
// stderr and an exit code: 2 for anything the user can fix, 3 for a failed peer or
// collective, 4 when stopped by a signal after saving a checkpoint, 1 for internal errors.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <map>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/log.h"

// The executable links jemalloc in place of glibc's malloc, configured to keep freed pages
// mapped: a training step frees and reallocates the same large activation buffers (a
// ResNet-50 batch of 128 has 134 MB tensors). glibc returns every block over 32 MB to the
// kernel with munmap and takes it back with mmap, so each step page-faults and zeroes
// gigabytes: on the 2-core CI machine 35% of ResNet-50's training time went to the kernel.
// Memory then stays at the peak of the run (as PyTorch's CUDA caching allocator does on the
// GPU). MALLOC_CONF in the environment overrides this. docs/performance.md has the figures.
extern "C" {
// NOLINTNEXTLINE: the name jemalloc reads its compiled-in options from
const char* malloc_conf = "dirty_decay_ms:-1,muzzy_decay_ms:-1";
}

namespace rt {
namespace {
std::vector<std::string> g_argv, g_passthrough;
}
const std::vector<std::string>& process_argv() { return g_argv; }
const std::vector<std::string>& passthrough_args() { return g_passthrough; }
void set_process_argv(int argc, char** argv) { g_argv.assign(argv, argv + argc); }
void set_passthrough_args(std::vector<std::string> args) { g_passthrough = std::move(args); }
}  // namespace rt

int main(int argc, char** argv) {
  rt::set_process_argv(argc, argv);
  CLI::App app{
      "ringtrain: ResNet training on CIFAR-10, single-process or data-parallel with "
      "Ring-AllReduce",
      "ringtrain"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for all subcommands");
  std::map<const CLI::App*, rt::CommandRunner> runners;
  for (auto add : {rt::add_train_command, rt::add_eval_command, rt::add_predict_command, rt::add_models_command,
                   rt::add_bench_command, rt::add_scale_command, rt::add_forecast_command, rt::add_export_command,
                   rt::add_import_command, rt::add_report_command, rt::add_download_command}) {
    const size_t before = app.get_subcommands({}).size();
    rt::CommandRunner run = add(app);
    runners[app.get_subcommands({}).at(before)] = std::move(run);
  }
  // `ringtrain scale ... -- TRAIN FLAGS`: what follows "--" is for the training runs, unparsed.
  int parsed_argc = argc;
  if (argc > 1 && std::string(argv[1]) == "scale") {
    for (int i = 2; i < argc; ++i) {
      if (std::string(argv[i]) == "--") {
        rt::set_passthrough_args(std::vector<std::string>(argv + i + 1, argv + argc));
        parsed_argc = i;
        break;
      }
    }
  }
  try {
    app.parse(parsed_argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // One line, as every other refusal (CLI11 would add a second, "Run with --help ...").
    std::string command = "ringtrain";
    for (const auto& [sub, run] : runners) {
      if (sub->parsed()) command += " " + sub->get_name();
    }
    rt::print_error_line(fmt::format("ringtrain: error: {} (see {} --help)", e.what(), command));
    return rt::kExitUserError;
  }
  try {
    for (const auto& [sub, run] : runners) {
      if (sub->parsed()) return run();
    }
    return rt::kExitUserError;
  } catch (const rt::UserError& e) {
    rt::print_error_line(std::string("ringtrain: error: ") + e.what());
    return rt::kExitUserError;
  } catch (const rt::Interrupted& e) {
    rt::print_error_line(std::string("ringtrain: ") + e.what());
    return rt::kExitInterrupted;
  } catch (const rt::CommError& e) {
    rt::print_error_line(std::string("ringtrain: error: ") + e.what());
    return rt::kExitCommError;
  } catch (const c10::Error& e) {
    rt::print_error_line(std::string("ringtrain: internal error: ") + e.what_without_backtrace());
    return rt::kExitFailure;
  } catch (const std::exception& e) {
    rt::print_error_line(std::string("ringtrain: internal error: ") + e.what());
    return rt::kExitFailure;
  }
}
