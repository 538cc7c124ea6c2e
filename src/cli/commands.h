// The subcommands of the ringtrain binary; each adds itself to the CLI11 app and runs when
// chosen. A command returns the process exit code; user errors are thrown as UserError.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace rt {

using CommandRunner = std::function<int()>;

CommandRunner add_train_command(CLI::App& app);
CommandRunner add_eval_command(CLI::App& app);
CommandRunner add_models_command(CLI::App& app);

}  // namespace rt
