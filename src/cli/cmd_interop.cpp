// `ringtrain export` and `ringtrain import`: weights to and from Python (checkpoint/interop.h).
#include "checkpoint/checkpoint.h"
#include "checkpoint/interop.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/config_table.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "data/dataset.h"
#include "model/registry.h"
#include "report/writers.h"
#include "train/optimizer.h"

namespace rt {

namespace {

struct ExportOptions {
  std::string checkpoint, to;
};

int run_export(const ExportOptions& o) {
  // A run folder means its newest good checkpoint.
  const auto reader = dir_exists(o.checkpoint) ? CheckpointReader::open_newest(o.checkpoint, torch::kCPU)
                                               : std::make_unique<CheckpointReader>(o.checkpoint, torch::kCPU);
  const Config run_cfg = config_from_json(reader->meta().config, reader->path());
  const std::string stem = resolve_stem(run_cfg.stem, run_cfg.image_size, reader->meta().model);
  auto model = make_model(reader->meta().model, reader->meta().num_classes, false, stem);
  reader->load_model(*model);
  export_state_dict(*model, o.to);
  print_line(fmt::format("wrote {} ({}, {} classes, {} tensors) from {}", o.to, reader->meta().model,
                         reader->meta().num_classes, model->named_parameters().size() + model->named_buffers().size(),
                         reader->path()));
  print_line(fmt::format("in Python: m = torchvision.models.{}(num_classes={}); {}m.load_state_dict(torch.load('{}'))",
                         reader->meta().model, reader->meta().num_classes,
                         stem == "imagenet" ? ""
                                            : "m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False); m.maxpool = "
                                              "torch.nn.Identity(); ",
                         o.to));
  return 0;
}

struct ImportOptions {
  std::string file, to, model, data, stem = "cifar";
  int64_t num_classes = 10;
};

int run_import(const ImportOptions& o) {
  check_flag_range("--num-classes", o.num_classes, 2, kMaxClasses, "the head grows with the class count");
  check_model_name(o.model);
  auto model = make_model(o.model, o.num_classes, false, o.stem);
  import_state_dict(*model, o.file);
  RT_CHECK_USER(checkpoint_files(o.to).empty(), "{} already holds a run's checkpoints; import into a new folder", o.to);
  Config cfg;
  cfg.model = o.model;
  cfg.num_classes = o.num_classes;
  cfg.stem = o.stem;
  cfg.data = o.data;
  cfg.out = o.to;
  // Weights made in Python: evaluated in float32 as Python does (not in bf16 where the CPU has it;
  // `eval --amp` chooses otherwise).
  cfg.amp = "none";
  auto opt = make_sgd(*model, cfg);
  CheckpointMeta meta;
  meta.model = o.model;
  meta.num_classes = o.num_classes;
  meta.param_count = count_parameters(*model);
  meta.config = to_json(cfg);
  meta.config["environment"] = {{"imported_from", o.file}};  // a record, not an option
  if (o.num_classes == static_cast<int64_t>(cifar10_class_names().size())) {
    meta.class_names = cifar10_class_names();
  } else {
    for (int64_t c = 0; c < o.num_classes; ++c) meta.class_names.push_back(fmt::format("class_{}", c));
  }
  make_dirs(o.to);
  write_json_file(o.to + "/config.json", meta.config);
  save_checkpoint_rotating(o.to, 1, *model, *opt, meta);
  print_line(
      fmt::format("wrote {} ({}, {} classes, weights from {}); evaluate it with: ringtrain eval --checkpoint {} "
                  "--data DIR",
                  checkpoint_path(o.to), o.model, o.num_classes, o.file, checkpoint_path(o.to)));
  return 0;
}

}  // namespace

CommandRunner add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write a checkpoint's weights as a state_dict Python loads (torch.load)");
  auto o = std::make_shared<ExportOptions>();
  cmd->add_option("checkpoint", o->checkpoint, "checkpoint.safetensors, or a run folder (its newest good checkpoint)")
      ->required();
  cmd->add_option("--to", o->to, "Output file, e.g. model.pt")->required();
  cmd->footer("Example:\n  ringtrain export runs/r50 --to r50.pt");
  return [o] { return run_export(*o); };
}

CommandRunner add_import_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Make a ringtrain checkpoint from a PyTorch state_dict (torch.save)");
  auto o = std::make_shared<ImportOptions>();
  cmd->add_option("file", o->file, "torch.save'd state_dict, e.g. of a torchvision ResNet with the CIFAR stem")
      ->required();
  cmd->add_option("--model", o->model, "Model it belongs to (see `ringtrain models`)")->required();
  cmd->add_option("--num-classes", o->num_classes, "Classes of its head")->capture_default_str();
  cmd->add_option("--stem", o->stem, "Its stem: cifar (3x3 conv, no max-pool) or imagenet (torchvision's own)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cifar", "imagenet"}));
  cmd->add_option("--to", o->to, "Run folder to create (checkpoint.safetensors, config.json)")->required();
  cmd->add_option("--data", o->data, "CIFAR-10 folder to record as the run's data (for eval)");
  cmd->footer(
      "Examples:\n  ringtrain import model.pt --model resnet18 --to runs/from-python\n"
      "  ringtrain import resnet50-11ad3fa6.pth --model resnet50 --stem imagenet --num-classes 1000 --to runs/tv50\n"
      "To fine-tune on other classes instead: ringtrain train --init-from resnet50-11ad3fa6.pth --model resnet50 "
      "--image-size 224 ...");
  return [o] { return run_import(*o); };
}

}  // namespace rt
