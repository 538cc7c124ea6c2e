// `ringtrain predict`: classify image files with a trained model. The images (files, or folders
// searched for torchvision's image names) go through the run's evaluation transform in batches
// on the device, with the run's precision and test-time augmentation unless told otherwise,
// and each gets its top-k classes with probabilities (softmax of the logits), as text, CSV or
// JSON (with the logits, so that they can be compared with eval's).
//  - A run on images of another size (streamed): its evaluation exactly, Resize(int(S / 0.875))
//    and CenterCrop(S), S its --image-size.
//  - A run on 32x32 images held in memory (CIFAR, a folder of 32x32 images): Resize(32) +
//    CenterCrop(32), which leaves a 32x32 image as it is.
// An imported model (whose checkpoint records no input size) takes --image-size, else 32 with
// the CIFAR stem and 224 with ImageNet's, and the statistics `train --normalize auto` would use.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "cli/commands.h"
#include "cli/inference.h"
#include "cli/options.h"
#include "core/config_table.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "data/dataset.h"
#include "data/image_index.h"
#include "data/loader.h"
#include "data/normalization.h"
#include "eval/evaluate.h"
#include "eval/tta.h"
#include "parallel/job.h"

namespace rt {

namespace {

namespace fs = std::filesystem;

struct PredictOptions {
  std::string checkpoint, model, device = "auto", amp, tta, format = "text", out;
  std::vector<std::string> inputs;
  int64_t top_k = 5, eval_batch_size = 100, threads = 0, image_size = 0;
  bool dct_scaling = true, dct_scaling_given = false;
};

// The image files named: files as given (their content decides the format), folders searched
// (recursively, following no links out of order) for torchvision's image names, sorted.
std::vector<std::string> collect_images(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    const auto status = fs::status(in, ec);
    RT_CHECK_USER(!ec && fs::exists(status), "{}: no such image file or folder", in);
    if (fs::is_directory(status)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(in, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file() && is_image_name(it->path().string())) found.push_back(it->path().string());
        RT_CHECK_USER(found.size() + files.size() <= static_cast<size_t>(kMaxImages),
                      "{}: more than {} images; predict on fewer at a time", in, kMaxImages);
      }
      RT_CHECK_USER(!ec, "{}: cannot list the folder ({})", in, ec.message());
      RT_CHECK_USER(!found.empty(), "{}: the folder holds no images (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp)",
                    in);
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      RT_CHECK_USER(fs::is_regular_file(status), "{}: not a regular file or a folder", in);
      files.push_back(in);
    }
  }
  return files;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (const char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

int run_predict(const PredictOptions& o) {
  RT_CHECK_USER(o.format == "text" || o.format == "csv" || o.format == "json",
                "--format {}: expected text, csv or json", o.format);
  RT_CHECK_USER(o.top_k >= 1, "--top-k must be at least 1, got {}", o.top_k);
  set_compute_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  const InferenceModel m = load_inference_model(o.checkpoint, o.model, device, o.amp);
  const Config& run = m.run_cfg;

  // The images as a streamed split of the run's input size and statistics (labels unused).
  Dataset images;
  images.files = std::make_shared<const std::vector<std::string>>(collect_images(o.inputs));
  const auto n = static_cast<int64_t>(images.files->size());
  images.labels = torch::zeros({n}, torch::kInt64);
  images.class_names = m.meta.class_names;
  const nlohmann::json env = m.meta.config.value("environment", nlohmann::json::object());
  const std::string format = env.is_object() ? env.value("data_format", "") : "";
  const bool in_memory = format == "cifar10-binary" || format == "cifar100-binary" || format == "cifar10-python" ||
                         format == "cifar100-python" || format == "image-folder";
  images.image_size = o.image_size > 0         ? o.image_size
                      : run.image_size > 0     ? run.image_size
                      : run.stem == "imagenet" ? 224
                                               : 32;
  images.eval_resize = in_memory || (format.empty() && images.image_size == 32) ? images.image_size : 0;
  if (!run.mean.empty() && !run.std.empty()) {
    images.norm.mean = parse_channel_triple("the run's --mean", run.mean, /*positive=*/false);
    images.norm.std = parse_channel_triple("the run's --std", run.std, /*positive=*/true);
  } else if (images.eval_resize == 0) {
    images.norm = imagenet_normalization();
  }
  images.dct_scaling = o.dct_scaling_given ? o.dct_scaling : run.dct_scaling;

  EvalSpec spec;
  spec.batch_size = o.eval_batch_size;
  spec.precision = m.precision;
  spec.channels_last = run.channels_last;
  spec.tta = parse_tta(o.tta.empty() ? run.tta : o.tta);
  spec.keep_logits = true;
  spec.loader_threads = default_loader_threads(images, at::get_num_threads());
  const EvalResult r = evaluate(*m.model, images, device, spec);
  const torch::Tensor logits = r.logits.to(torch::kFloat64);
  const torch::Tensor probs = torch::softmax(logits, 1);
  const int64_t k = std::min<int64_t>(o.top_k, logits.size(1));
  const auto [top_p, top_i] = probs.topk(k, 1);

  std::FILE* out = stdout;
  std::string tmp;
  if (!o.out.empty()) {
    tmp = o.out + ".ringtrain-tmp";
    out = std::fopen(tmp.c_str(), "w");
    RT_CHECK_USER(out != nullptr, "--out {}: cannot write there", o.out);
  }
  const auto name = [&](int64_t c) {
    return c < static_cast<int64_t>(m.meta.class_names.size()) ? m.meta.class_names[static_cast<size_t>(c)]
                                                               : fmt::format("class_{}", c);
  };
  if (o.format == "json") {
    nlohmann::json j = {{"checkpoint", o.checkpoint},
                        {"model", m.model_name},
                        {"precision", precision_name(m.precision)},
                        {"tta", tta_name(spec.tta)},
                        {"image_size", images.image_size},
                        {"dct_scaling", images.dct_scaling},
                        {"images", nlohmann::json::array()}};
    for (int64_t i = 0; i < n; ++i) {
      nlohmann::json top = nlohmann::json::array();
      for (int64_t t = 0; t < k; ++t) {
        const int64_t c = top_i[i][t].item<int64_t>();
        top.push_back({{"class", name(c)}, {"index", c}, {"probability", top_p[i][t].item<double>()}});
      }
      const auto row = r.logits[i].contiguous();
      j["images"].push_back(
          {{"path", (*images.files)[static_cast<size_t>(i)]},
           {"top", top},
           {"logits", std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel())}});
    }
    std::fputs((j.dump(1) + "\n").c_str(), out);
  } else {
    if (o.format == "csv") std::fputs("path,rank,class,index,probability\n", out);
    for (int64_t i = 0; i < n; ++i) {
      const std::string& path = (*images.files)[static_cast<size_t>(i)];
      std::string line = o.format == "text" ? path + ":" : "";
      for (int64_t t = 0; t < k; ++t) {
        const int64_t c = top_i[i][t].item<int64_t>();
        const double p = top_p[i][t].item<double>();
        if (o.format == "text") {
          line += fmt::format("{} {} {:.2f}%", t == 0 ? "" : ",", name(c), 100 * p);
        } else {
          line += fmt::format("{},{},{},{},{:.6g}\n", csv_field(path), t + 1, csv_field(name(c)), c, p);
        }
      }
      std::fputs((o.format == "text" ? line + "\n" : line).c_str(), out);
    }
  }
  if (out != stdout) {
    const bool ok = std::fflush(out) == 0 && std::fclose(out) == 0;
    RT_CHECK_USER(ok && std::rename(tmp.c_str(), o.out.c_str()) == 0, "--out {}: writing failed (disk full?)", o.out);
  }
  const std::string summary =
      fmt::format("{} images classified by {} ({} after {} epochs, {}, TTA {}{}){}", n, o.checkpoint, m.model_name,
                  m.meta.state.epochs_done, precision_name(m.precision), tta_name(spec.tta),
                  images.dct_scaling ? ", JPEGs DCT-scaled" : ", JPEGs decoded at full size",
                  o.out.empty() ? "" : "; wrote " + o.out);
  if (o.out.empty()) {  // standard output holds the predictions: the summary goes to standard error
    std::fprintf(stderr, "%s\n", summary.c_str());
  } else {
    print_line(summary);
  }
  return 0;
}

}  // namespace

CommandRunner add_predict_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Classify image files with a trained model (top-k classes)");
  auto o = std::make_shared<PredictOptions>();
  cmd->add_option("--checkpoint", o->checkpoint, "checkpoint.safetensors of a run")->required();
  cmd->add_option("images", o->inputs, "Image files or folders (searched for .jpg .png .webp .tif .bmp .ppm ...)")
      ->required();
  auto flags = std::make_shared<SharedFlags>(cmd);  // the flags it shares with `train` (cli/options.h)
  cmd->add_option("--top-k", o->top_k, "Classes listed per image")->capture_default_str();
  cmd->add_option("--format", o->format, "text | csv | json (json adds the logits)")->capture_default_str();
  cmd->add_option("--out", o->out, "Write to this file (default: standard output)");
  cmd->add_option("--model", o->model, "Expected model (default: the checkpoint's)");
  flags->add("eval_batch_size", o->eval_batch_size, "Images per batch");
  flags->add("image_size", o->image_size, "Model input side (default: the run's)");
  flags->add("threads", o->threads);
  flags->add("amp", o->amp, "Autocast precision: auto | bf16 | none (default: as the run)");
  flags->add("tta", o->tta, "Test-time augmentation: none | flip | flip-translate (default: as the run's final test)");
  auto* dct = flags->add("dct_scaling", o->dct_scaling,
                         "JPEGs: decode at a reduced DCT scale where the crop allows (default: as the run); false "
                         "gives torchvision's pixels exactly");
  flags->add("device", o->device);
  cmd->footer(
      "Examples:\n  ringtrain predict --checkpoint runs/demo/checkpoint.safetensors photo.jpg more-photos/\n"
      "  ringtrain predict --checkpoint runs/r50/checkpoint.safetensors --format csv --top-k 3 --out preds.csv "
      "images/");
  return [o, flags, dct] {
    flags->check();
    o->dct_scaling_given = dct->count() > 0;
    return run_predict(*o);
  };
}

}  // namespace rt
