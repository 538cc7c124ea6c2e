// The subcommands of the ringtrain binary; each adds itself to the CLI11 app and runs when
// chosen. A command returns the process exit code; user errors are thrown as UserError.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace rt {

using CommandRunner = std::function<int()>;

// The process's own command line (for the built-in launcher, which runs it again per worker).
const std::vector<std::string>& process_argv();
void set_process_argv(int argc, char** argv);
// The arguments after a standalone "--" (for `scale`: the training runs' flags).
const std::vector<std::string>& passthrough_args();
void set_passthrough_args(std::vector<std::string> args);

CommandRunner add_train_command(CLI::App& app);
CommandRunner add_eval_command(CLI::App& app);
CommandRunner add_predict_command(CLI::App& app);
CommandRunner add_models_command(CLI::App& app);
CommandRunner add_bench_command(CLI::App& app);
CommandRunner add_scale_command(CLI::App& app);
CommandRunner add_forecast_command(CLI::App& app);
CommandRunner add_export_command(CLI::App& app);
CommandRunner add_import_command(CLI::App& app);
CommandRunner add_report_command(CLI::App& app);
CommandRunner add_download_command(CLI::App& app);

}  // namespace rt
