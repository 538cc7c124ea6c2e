#include "train/checkpoint.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "device/torch_compat.h"

namespace rt {

namespace {

constexpr const char* kFormat = "ringtrain-checkpoint";
constexpr int kFormatVersion = 1;
// Footer: magic, payload size (uint64), CRC-32 of the payload (uint32), little-endian.
constexpr char kFooterMagic[8] = {'R', 'T', 'C', 'K', 'P', 'T', '0', '1'};
constexpr size_t kFooterBytes = 8 + 8 + 4;

std::string footer_for(const std::string& payload) {
  std::string f(kFooterMagic, 8);
  const uint64_t size = payload.size();
  const auto crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  for (int i = 0; i < 8; ++i) f.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
  for (int i = 0; i < 4; ++i) f.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return f;
}

// The payload size if `bytes` ends with a valid footer for its payload, else an explanation.
std::string check_footer(const std::vector<unsigned char>& bytes, size_t& payload_size) {
  if (bytes.size() < kFooterBytes) return "too short to be a checkpoint";
  const unsigned char* f = bytes.data() + bytes.size() - kFooterBytes;
  if (std::memcmp(f, kFooterMagic, 8) != 0) return "no ringtrain checkpoint footer (truncated, torn or another format)";
  uint64_t size = 0;
  uint32_t crc = 0;
  for (int i = 0; i < 8; ++i) size |= static_cast<uint64_t>(f[8 + i]) << (8 * i);
  for (int i = 0; i < 4; ++i) crc |= static_cast<uint32_t>(f[16 + i]) << (8 * i);
  if (size != bytes.size() - kFooterBytes) return "size does not match its footer (truncated or torn)";
  const auto actual = static_cast<uint32_t>(crc32(0L, bytes.data(), static_cast<uInt>(size)));
  if (actual != crc) return "checksum mismatch (the file is corrupt)";
  payload_size = size;
  return "";
}

}  // namespace

void save_checkpoint(const std::string& path, Classifier& model, torch::optim::Optimizer& opt,
                     const CheckpointMeta& meta) {
  nlohmann::json j = {{"format", kFormat},
                      {"format_version", kFormatVersion},
                      {"torch_version", torch_version_string()},
                      {"model", meta.model},
                      {"num_classes", meta.num_classes},
                      {"param_count", meta.param_count},
                      {"class_names", meta.class_names},
                      {"config", meta.config},
                      {"history", meta.history}};
  write_run_state(j, meta.state);
  if (!meta.grad_compression.empty()) {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& entry : meta.grad_compression) names.push_back(entry.first);
    j["grad_compression_state"] = {{"world_size", meta.grad_compression_world}, {"names", names}};
  }
  torch::serialize::OutputArchive archive, model_archive, opt_archive, compression_archive;
  archive.write("meta", c10::IValue(j.dump()));
  model.save(model_archive);
  archive.write("model", model_archive);
  opt.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("rng_cpu", cpu_rng_state());
  if (!meta.grad_compression.empty()) {
    for (const auto& [name, t] : meta.grad_compression) compression_archive.write(name, t);
    archive.write("grad_compression", compression_archive);
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  std::string data = bytes.str();
  data += footer_for(data);
  write_file_atomic(path, data.data(), data.size());
}

std::string weights_fingerprint(Classifier& model) {
  uLong crc = crc32(0L, Z_NULL, 0);
  auto add = [&crc](const std::string& name, const torch::Tensor& t) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(name.data()), static_cast<uInt>(name.size()));
    const auto c = t.detach().to(torch::kCPU).contiguous();
    crc = crc32(crc, static_cast<const Bytef*>(c.data_ptr()), static_cast<uInt>(c.nbytes()));
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
  return fmt::format("{:08x}", static_cast<uint32_t>(crc));
}

std::vector<std::string> checkpoint_files(const std::string& dir) {
  std::vector<std::string> files;
  if (file_exists(dir + "/checkpoint.pt")) files.push_back(dir + "/checkpoint.pt");
  for (int i = 1; file_exists(dir + "/checkpoint." + std::to_string(i) + ".pt"); ++i) {
    files.push_back(dir + "/checkpoint." + std::to_string(i) + ".pt");
  }
  return files;
}

void save_checkpoint_rotating(const std::string& dir, int64_t keep, Classifier& model, torch::optim::Optimizer& opt,
                              const CheckpointMeta& meta) {
  // Write the new one first under a temporary name: a failure here (a full disk) leaves every
  // existing checkpoint as it was.
  const std::string fresh = dir + "/checkpoint.new.pt";
  save_checkpoint(fresh, model, opt, meta);
  auto name = [&](int64_t i) { return dir + (i == 0 ? "/checkpoint.pt" : "/checkpoint." + std::to_string(i) + ".pt"); };
  std::remove(name(keep - 1).c_str());
  for (int64_t i = keep - 2; i >= 0; --i) {
    if (file_exists(name(i))) std::rename(name(i).c_str(), name(i + 1).c_str());
  }
  RT_CHECK_USER(std::rename(fresh.c_str(), name(0).c_str()) == 0, "cannot rename {} to {}: {}", fresh, name(0),
                std::strerror(errno));
}

std::unique_ptr<CheckpointReader> CheckpointReader::open_newest(const std::string& dir, const torch::Device& device) {
  const auto files = checkpoint_files(dir);
  RT_CHECK_USER(!files.empty(), "{} holds no checkpoint.pt; pass the folder of a run to --resume", dir);
  for (const auto& f : files) {
    try {
      return std::make_unique<CheckpointReader>(f, device);
    } catch (const UserError& e) {
      log_warn("skipping {}", e.what());
    }
  }
  throw UserError(fmt::format("{}: none of its {} checkpoints is readable; start a new run", dir, files.size()));
}

CheckpointReader::CheckpointReader(const std::string& path, const torch::Device& device) : path_(path) {
  RT_CHECK_USER(file_exists(path), "checkpoint {} does not exist; pass the checkpoint.pt of a run", path);
  const std::vector<unsigned char> bytes = read_file_bytes(path);
  size_t payload = 0;
  const std::string problem = check_footer(bytes, payload);
  RT_CHECK_USER(problem.empty(), "checkpoint {}: {}", path, problem);
  c10::IValue meta_value;
  try {
    archive_.load_from(reinterpret_cast<const char*>(bytes.data()), payload, device);
    archive_.read("meta", meta_value);
  } catch (const c10::Error&) {
    throw UserError(
        fmt::format("{} is not a readable ringtrain checkpoint (truncated, corrupt or another format)", path));
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(meta_value.toStringRef());
    RT_CHECK_USER(j.value("format", "") == kFormat, "{} is not a ringtrain checkpoint", path);
    meta_.model = j.at("model").get<std::string>();
    meta_.num_classes = j.at("num_classes").get<int64_t>();
    meta_.param_count = j.at("param_count").get<int64_t>();
    meta_.state = read_run_state(j);
    meta_.class_names = j.at("class_names").get<std::vector<std::string>>();
    meta_.config = j.at("config");
    meta_.history = j.at("history").get<std::vector<EpochRecord>>();
    if (j.contains("grad_compression_state")) {
      const auto& g = j.at("grad_compression_state");
      meta_.grad_compression_world = g.at("world_size").get<int64_t>();
      torch::serialize::InputArchive compression_archive;
      archive_.read("grad_compression", compression_archive);
      for (const auto& name : g.at("names").get<std::vector<std::string>>()) {
        torch::Tensor t;
        compression_archive.read(name, t);
        meta_.grad_compression.emplace_back(name, t);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: checkpoint metadata is damaged ({})", path, e.what()));
  } catch (const c10::Error&) {
    throw UserError(fmt::format("{}: the gradient compression state it lists is missing or damaged", path));
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
    RT_CHECK_USER(t && t->sizes().vec() == shape, "{}: tensor {} has the wrong shape for a {}", path_, name,
                  meta_.model);
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
