#include "train/checkpoint.h"

#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/torch_compat.h"

namespace rt {

namespace {

constexpr const char* kFormat = "ringtrain-checkpoint";
constexpr int kFormatVersion = 1;

}  // namespace

void save_checkpoint(const std::string& path, Classifier& model, torch::optim::Optimizer& opt,
                     const CheckpointMeta& meta) {
  const nlohmann::json j = {{"format", kFormat},
                            {"format_version", kFormatVersion},
                            {"torch_version", torch_version_string()},
                            {"model", meta.model},
                            {"num_classes", meta.num_classes},
                            {"param_count", meta.param_count},
                            {"epochs_done", meta.position.epochs_done},
                            {"global_step", meta.position.global_step},
                            {"class_names", meta.class_names},
                            {"config", meta.config},
                            {"history", meta.history}};
  torch::serialize::OutputArchive archive, model_archive, opt_archive;
  archive.write("meta", c10::IValue(j.dump()));
  model.save(model_archive);
  archive.write("model", model_archive);
  opt.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("rng_cpu", cpu_rng_state());
  std::ostringstream bytes;
  archive.save_to(bytes);
  const std::string data = bytes.str();
  write_file_atomic(path, data.data(), data.size());
}

CheckpointReader::CheckpointReader(const std::string& path, const torch::Device& device)
    : path_(path) {
  RT_CHECK_USER(file_exists(path), "checkpoint {} does not exist; pass the checkpoint.pt of a run",
                path);
  c10::IValue meta_value;
  try {
    archive_.load_from(path, device);
    archive_.read("meta", meta_value);
  } catch (const c10::Error&) {
    throw UserError(fmt::format(
        "{} is not a readable ringtrain checkpoint (truncated, corrupt or another format)", path));
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(meta_value.toStringRef());
    RT_CHECK_USER(j.value("format", "") == kFormat, "{} is not a ringtrain checkpoint", path);
    meta_.model = j.at("model").get<std::string>();
    meta_.num_classes = j.at("num_classes").get<int64_t>();
    meta_.param_count = j.at("param_count").get<int64_t>();
    meta_.position.epochs_done = j.at("epochs_done").get<int64_t>();
    meta_.position.global_step = j.at("global_step").get<int64_t>();
    meta_.class_names = j.at("class_names").get<std::vector<std::string>>();
    meta_.config = j.at("config");
    meta_.history = j.at("history");
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: checkpoint metadata is damaged ({})", path, e.what()));
  }
}

void CheckpointReader::load_model(Classifier& model) {
  RT_CHECK_USER(model.arch() == meta_.model && model.num_classes() == meta_.num_classes,
                "{} holds a {} with {} classes, but the model is a {} with {} classes; use the "
                "checkpoint's model (drop --model/--num-classes) or another checkpoint",
                path_, meta_.model, meta_.num_classes, model.arch(), model.num_classes());
  // InputArchive::read replaces tensors with set_(), which would accept any shape: record
  // the expected shapes and compare afterwards.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& p : model.named_parameters()) expected.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : model.named_buffers()) expected.emplace_back(b.key(), b.value().sizes().vec());
  torch::serialize::InputArchive model_archive;
  try {
    archive_.read("model", model_archive);
    model.load(model_archive);
  } catch (const c10::Error& e) {
    throw UserError(fmt::format("{}: model weights do not fit a {} ({})", path_, meta_.model,
                                std::string(e.what_without_backtrace()).substr(0, 200)));
  }
  auto params = model.named_parameters();
  auto buffers = model.named_buffers();
  for (const auto& [name, shape] : expected) {
    const auto* t = params.find(name);
    if (!t) t = buffers.find(name);
    RT_CHECK_USER(t && t->sizes().vec() == shape, "{}: tensor {} has the wrong shape for a {}",
                  path_, name, meta_.model);
  }
}

void CheckpointReader::load_optimizer(torch::optim::Optimizer& opt) {
  torch::serialize::InputArchive opt_archive;
  try {
    archive_.read("optimizer", opt_archive);
    opt.load(opt_archive);
  } catch (const c10::Error& e) {
    throw UserError(fmt::format("{}: optimiser state does not fit this run ({})", path_,
                                std::string(e.what_without_backtrace()).substr(0, 200)));
  }
}

void CheckpointReader::restore_rng() {
  torch::Tensor state;
  archive_.read("rng_cpu", state);
  set_cpu_rng_state(state.to(torch::kCPU));
}

}  // namespace rt
