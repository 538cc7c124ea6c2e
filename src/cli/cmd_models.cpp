// `ringtrain models`: the model zoo with parameter counts.
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/config_table.h"
#include "core/log.h"
#include "model/registry.h"

namespace rt {

CommandRunner add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "List the models with their parameter counts");
  auto num_classes = std::make_shared<int64_t>(10);
  cmd->add_option("--num-classes", *num_classes, "Classes of the final layer")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, kMaxClasses));
  cmd->footer("Example: ringtrain models --num-classes 100");
  return [num_classes] {
    print_line(fmt::format("{:<10} {:>12}  {}", "model", "parameters", "description"));
    for (const auto& info : model_catalogue()) {
      const auto model = make_model(info.name, *num_classes);
      print_line(
          fmt::format("{:<10} {:>12}  {}", info.name, with_thousands(count_parameters(*model)), info.description));
    }
    return 0;
  };
}

}  // namespace rt
