// `ringtrain eval` (test mode): evaluate a checkpoint on the test split and write the same
// metrics, classification report and confusion matrix as training does.
#include <filesystem>

#include "checkpoint/checkpoint.h"
#include "checkpoint/interop.h"
#include "cli/commands.h"
#include "cli/inference.h"
#include "cli/options.h"
#include "core/config.h"
#include "core/config_table.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "eval/evaluate.h"
#include "model/precision.h"
#include "model/registry.h"
#include "parallel/job.h"
#include "train/run_outputs.h"

namespace rt {

namespace {

struct EvalOptions {
  std::string checkpoint, data, out, model, device = "auto", amp, save_logits, tta;
  int64_t limit_test = -1;  // -1 = as the checkpoint's run
  int64_t eval_batch_size = 500, threads = 0;
  bool dct_scaling = true, dct_scaling_given = false;  // --dct-scaling, else as the run
};

int run_eval(const EvalOptions& o) {
  set_compute_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  const InferenceModel m = load_inference_model(o.checkpoint, o.model, device, o.amp);
  const CheckpointMeta& meta = m.meta;
  const Config& run_cfg = m.run_cfg;
  const std::string& model_name = m.model_name;
  Classifier& model = *m.model;
  const Precision precision = m.precision;

  // The run's input size and normalisation statistics (config.json records them resolved).
  const std::string data_dir = o.data.empty() ? run_cfg.data : o.data;
  DataRequest request = data_request(run_cfg);
  if (o.dct_scaling_given) request.dct_scaling = o.dct_scaling;
  const DataSplits splits = load_splits(data_dir, request);
  RT_CHECK_USER(splits.test.num_classes() == meta.num_classes,
                "{} holds {} classes but {} was trained for {}; use data with the same classes", data_dir,
                splits.test.num_classes(), o.checkpoint, meta.num_classes);
  // The same test subset as the training run evaluated, unless told otherwise.
  const int64_t limit = o.limit_test >= 0 ? o.limit_test : run_cfg.limit_test;
  const Dataset test = balanced_subset(splits.test, limit, run_cfg.seed);

  EvalSpec spec;
  spec.batch_size = o.eval_batch_size;
  spec.precision = precision;
  spec.channels_last = run_cfg.channels_last;
  spec.tta = parse_tta(o.tta.empty() ? run_cfg.tta : o.tta);  // the run's final test, unless told otherwise
  spec.keep_logits = !o.save_logits.empty();
  spec.loader_threads = default_loader_threads(test, at::get_num_threads());
  spec.skip_bad = run_cfg.skip_bad_images;
  const EvalResult r = evaluate(model, test, device, spec);
  if (!o.save_logits.empty()) save_tensor_dict(o.save_logits, {{"logits", r.logits}, {"labels", r.labels}});
  const std::string out =
      !o.out.empty() ? o.out : (std::filesystem::path(o.checkpoint).parent_path() / "eval").string();
  make_dirs(out);
  write_evaluation_outputs(out, r, test.class_names,
                           {{"checkpoint", o.checkpoint},
                            {"model", model_name},
                            {"param_count", count_parameters(model)},
                            {"epochs", meta.state.epochs_done},
                            {"data", data_dir},
                            {"test_images", test.size()},
                            {"test_accuracy", r.accuracy()},
                            {"precision", precision_name(precision)},
                            {"tta", tta_name(spec.tta)},
                            {"dct_scaling", test.streamed() && test.dct_scaling},
                            {"weights_fingerprint", weights_fingerprint(model)},
                            {"environment", environment_json(device)}});
  const std::string decoding =
      !test.streamed() ? "" : (test.dct_scaling ? ", JPEGs DCT-scaled" : ", JPEGs decoded at full size");
  print_line(fmt::format("{}: {} after {} epochs, {} test images ({}, TTA {}{}): loss {:.4f}, accuracy {:.2f}%",
                         o.checkpoint, model_name, meta.state.epochs_done, test.size(), precision_name(precision),
                         tta_name(spec.tta), decoding, r.loss(), 100 * r.accuracy()));
  print_line(fmt::format("wrote {0}/metrics.json, {0}/classification_report.txt, {0}/confusion_matrix.csv", out));
  write_plots_or_warn(out);
  return 0;
}

}  // namespace

CommandRunner add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "Test mode: evaluate a checkpoint on the test split");
  auto o = std::make_shared<EvalOptions>();
  cmd->add_option("--checkpoint", o->checkpoint, "checkpoint.safetensors of a run")->required();
  auto flags = std::make_shared<SharedFlags>(cmd);  // the flags it shares with `train` (cli/options.h)
  flags->add("data", o->data, "Data folder (default: the run's --data)");
  cmd->add_option("--out", o->out, "Folder for the reports (default: <checkpoint folder>/eval)");
  cmd->add_option("--model", o->model, "Expected model (default: the checkpoint's)");
  flags->add("limit_test", o->limit_test, "Class-balanced subset of N test images (0 = all; default: as the run)");
  flags->add("eval_batch_size", o->eval_batch_size);
  flags->add("threads", o->threads);
  cmd->add_option("--save-logits", o->save_logits,
                  "Also write the logits and labels (torch.load-able dict) to this file");
  flags->add("amp", o->amp, "Autocast precision: auto | bf16 | none (default: as the run)");
  flags->add("tta", o->tta, "Test-time augmentation: none | flip | flip-translate (default: as the run's final test)");
  auto* dct = flags->add("dct_scaling", o->dct_scaling,
                         "Streamed JPEGs: decode at a reduced DCT scale where the crop allows (default: as the run); "
                         "false gives torchvision's pixels exactly");
  flags->add("device", o->device);
  cmd->footer("Example:\n  ringtrain eval --checkpoint runs/demo/checkpoint.safetensors --data data/cifar10");
  return [o, flags, dct] {
    flags->check();
    o->dct_scaling_given = dct->count() > 0;
    return run_eval(*o);
  };
}

}  // namespace rt
