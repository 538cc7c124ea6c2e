#include "checkpoint/checkpoint.h"

#include <fmt/ranges.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/config.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "device/dtype_names.h"
#include "device/torch_compat.h"

namespace rt {

// Note [Checkpoint format]
// A checkpoint is a safetensors file (core/safetensors.h), not TorchScript: reading a
// TorchScript archive (torch::jit::load, which the first checkpoints used) runs the code stored
// in it, so a crafted checkpoint could run anything on every rank that resumes from it.
// safetensors holds named tensors and string metadata and nothing else; it is the ecosystem's
// format for exactly this reason, Python reads it (`safetensors.torch.load_file`), and its
// layout is simple enough to check completely before use. The file holds:
//   model/<parameter or buffer name>       the weights, in registration order
//   optimizer/momentum/<parameter name>    SGD's momentum buffers (those that exist)
//   rng/cpu                                the CPU generator's state (uint8)
//   grad_compression/<name>                --grad-compression state, if any
//   lookahead/<parameter or buffer name>   --ema-every's weight average, if any
// and in "__metadata__": "format" (ringtrain-checkpoint), "format_version", and "ringtrain":
// the typed fields as one JSON object (model, num_classes, param_count, class_names, config,
// history, the RunState, the job that wrote it, grad_compression_world, torch_version). A CRC-32 of the whole file
// sits in the header (Note [Checksum in the header]): a torn or changed file is refused before
// its JSON is parsed. Tensors are written contiguous, so a channels-last model's weights are
// stored in the usual (N, C, H, W) order.

namespace {

constexpr const char* kFormat = "ringtrain-checkpoint";
constexpr const char* kFormatVersion = "2";
constexpr const char* kModelPrefix = "model/";
constexpr const char* kMomentumPrefix = "optimizer/momentum/";
constexpr const char* kRngName = "rng/cpu";
constexpr const char* kCompressionPrefix = "grad_compression/";
constexpr const char* kLookaheadPrefix = "lookahead/";
// A checkpoint is refused before it is read when larger than this (a ResNet-152 with its
// momentum is under 0.5 GiB): a sparse or wrong file must not be allocated.
constexpr uint64_t kMaxCheckpointBytes = uint64_t{16} << 30;

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string old_format_message(const std::string& path) {
  return fmt::format(
      "{} is a checkpoint in ringtrain's old TorchScript format, which runs code stored in the file when it is "
      "loaded: it is not read. Continue from a checkpoint written since (checkpoint.safetensors), or, if you trust "
      "the file, export its weights with the ringtrain that wrote it (`ringtrain export`) and start from them with "
      "--init-from",
      path);
}

// The tensors to write, keeping each contiguous CPU copy alive until the file is encoded.
struct TensorList {
  std::vector<torch::Tensor> keep;
  std::vector<SafetensorsBlob> blobs;
  void add(const std::string& name, const torch::Tensor& t) {
    keep.push_back(t.detach().to(torch::kCPU).contiguous());
    const auto& c = keep.back();
    blobs.push_back({name, dtype_name(c.scalar_type()), c.sizes().vec(), c.data_ptr(), c.nbytes()});
  }
};

}  // namespace

std::string checkpoint_path(const std::string& dir, int64_t age) {
  return age == 0 ? dir + "/checkpoint.safetensors" : dir + "/checkpoint." + std::to_string(age) + ".safetensors";
}

void save_checkpoint(const std::string& path, Classifier& model, torch::optim::Optimizer& opt,
                     const CheckpointMeta& meta) {
  nlohmann::json j = {{"torch_version", torch_version_string()},
                      {"model", meta.model},
                      {"num_classes", meta.num_classes},
                      {"param_count", meta.param_count},
                      {"class_names", meta.class_names},
                      {"config", meta.config},
                      {"history", meta.history}};
  write_run_state(j, meta.state);
  j["job"] = meta.job;
  if (!meta.grad_compression.empty()) j["grad_compression_world"] = meta.grad_compression.world;

  TensorList tensors;
  for (const auto& p : model.named_parameters()) tensors.add(kModelPrefix + p.key(), p.value());
  for (const auto& b : model.named_buffers()) tensors.add(kModelPrefix + b.key(), b.value());
  auto& state = opt.state();
  for (const auto& p : model.named_parameters()) {
    const auto it = state.find(p.value().unsafeGetTensorImpl());
    if (it == state.end()) continue;
    const auto& buffer = static_cast<const torch::optim::SGDParamState&>(*it->second).momentum_buffer();
    if (buffer.defined()) tensors.add(kMomentumPrefix + p.key(), buffer);
  }
  tensors.add(kRngName, cpu_rng_state());
  for (const auto& [name, t] : meta.grad_compression.tensors) tensors.add(kCompressionPrefix + name, t);
  for (const auto& [name, t] : meta.lookahead) tensors.add(kLookaheadPrefix + name, t);

  const std::string bytes = encode_safetensors(
      tensors.blobs, {{"format", kFormat}, {"format_version", kFormatVersion}, {"ringtrain", j.dump()}},
      /*checksum=*/true);
  write_file_atomic(path, bytes.data(), bytes.size());
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
  if (file_exists(checkpoint_path(dir))) files.push_back(checkpoint_path(dir));
  for (int64_t i = 1; file_exists(checkpoint_path(dir, i)); ++i) files.push_back(checkpoint_path(dir, i));
  return files;
}

void save_checkpoint_rotating(const std::string& dir, int64_t keep, Classifier& model, torch::optim::Optimizer& opt,
                              const CheckpointMeta& meta) {
  // Write the new one first under a temporary name: a failure here (a full disk) leaves every
  // existing checkpoint as it was. Then only renames, each of which replaces its target
  // atomically, so that at every moment the folder holds a readable newest checkpoint: with
  // keep 1 the new file replaces the old in one rename (it used to unlink the old one first).
  const std::string fresh = dir + "/checkpoint.new.safetensors";
  remove_stale_temporaries(dir, "checkpoint.new.safetensors");  // left by a write killed mid-way
  save_checkpoint(fresh, model, opt, meta);
  auto name = [&](int64_t i) { return checkpoint_path(dir, i); };
  for (int64_t i = keep - 2; i >= 0; --i) {
    if (file_exists(name(i))) {
      RT_CHECK_USER(std::rename(name(i).c_str(), name(i + 1).c_str()) == 0, "cannot rename {} to {}: {}", name(i),
                    name(i + 1), std::strerror(errno));
    }
  }
  RT_CHECK_USER(std::rename(fresh.c_str(), name(0).c_str()) == 0, "cannot rename {} to {}: {}", fresh, name(0),
                std::strerror(errno));
  for (int64_t i = keep; file_exists(name(i)); ++i) std::remove(name(i).c_str());  // past a smaller --keep-checkpoints
  sync_dir(dir);
}

std::unique_ptr<CheckpointReader> CheckpointReader::open_newest(const std::string& dir, const torch::Device& device) {
  const auto files = checkpoint_files(dir);
  if (files.empty()) {
    RT_CHECK_USER(!file_exists(dir + "/checkpoint.pt"), "{}", old_format_message(dir + "/checkpoint.pt"));
    throw UserError(fmt::format("{} holds no checkpoint.safetensors; pass the folder of a run to --resume", dir));
  }
  std::vector<std::string> skipped;  // why each newer one was passed over
  for (const auto& f : files) {
    try {
      auto reader = std::make_unique<CheckpointReader>(f, device);
      for (const auto& why : skipped) log_warn("skipping {}", why);
      return reader;
    } catch (const std::exception& e) {  // whatever is wrong with it, an older one may be good
      skipped.push_back(e.what());
    }
  }
  throw UserError(fmt::format("{}: none of its {} checkpoints is readable (the newest: {}); start a new run", dir,
                              files.size(), skipped.front()));
}

CheckpointReader::CheckpointReader(const std::string& path, const torch::Device& device)
    : path_(path), device_(device) {
  RT_CHECK_USER(file_exists(path), "checkpoint {} does not exist; pass the checkpoint.safetensors of a run", path);
  read(read_file_bytes(path, kMaxCheckpointBytes, "a checkpoint"));
}

CheckpointReader::CheckpointReader(const std::vector<unsigned char>& bytes, const std::string& path,
                                   const torch::Device& device)
    : path_(path), device_(device) {
  read(bytes);
}

void CheckpointReader::read(const std::vector<unsigned char>& bytes) {
  const bool zip = bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0;
  RT_CHECK_USER(!zip, "{}", old_format_message(path_));
  RT_CHECK_USER(looks_like_safetensors(bytes.data(), bytes.size()),
                "{} is not a ringtrain checkpoint (truncated, corrupt or another kind of file)", path_);
  const SafetensorsFile file = parse_safetensors(bytes.data(), bytes.size(), path_, /*require_checksum=*/true);
  checksum_ = file.metadata.at("crc32");
  const auto format = file.metadata.find("format");
  const auto version = file.metadata.find("format_version");
  const auto fields = file.metadata.find("ringtrain");
  RT_CHECK_USER(format != file.metadata.end() && format->second == kFormat && fields != file.metadata.end(),
                "{} is a safetensors file but not a ringtrain checkpoint; to start from its weights, use --init-from",
                path_);
  RT_CHECK_USER(version != file.metadata.end() && version->second == kFormatVersion,
                "{} is a ringtrain checkpoint of format version {}, this ringtrain reads version {}; use the "
                "ringtrain that wrote it",
                path_, version == file.metadata.end() ? "?" : version->second, kFormatVersion);
  for (const auto& e : file.tensors) {
    RT_CHECK_USER(starts_with(e.name, kModelPrefix) || starts_with(e.name, kMomentumPrefix) || e.name == kRngName ||
                      starts_with(e.name, kCompressionPrefix) || starts_with(e.name, kLookaheadPrefix),
                  "{}: holds a tensor '{}' that is no part of a checkpoint", path_, e.name);
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(dtype_of(e.dtype)));
    std::memcpy(t.data_ptr(), bytes.data() + file.data_offset + e.begin, e.end - e.begin);
    tensors_.emplace(e.name, std::move(t));
  }
  try {
    // Nested at most 64 deep: copying a JSON value recurses, and a crafted one could be millions deep.
    const nlohmann::json j =
        nlohmann::json::parse(fields->second, [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
          if (depth > 64) throw UserError("its metadata is nested more than 64 levels deep");
          return true;
        });
    meta_.model = j.at("model").get<std::string>();
    meta_.num_classes = j.at("num_classes").get<int64_t>();
    meta_.param_count = j.at("param_count").get<int64_t>();
    meta_.state = read_run_state(j);
    meta_.job = j.contains("job") ? j.at("job").get<std::string>() : "";
    RT_CHECK_USER(meta_.job.size() <= 256, "its job identity is {} bytes long", meta_.job.size());
    meta_.class_names = j.at("class_names").get<std::vector<std::string>>();
    meta_.config = j.at("config");
    RT_CHECK_USER(meta_.config.is_object(), "its config is not an object");
    config_from_json(meta_.config);  // every value of the right type (UserError naming the key otherwise)
    meta_.history = j.at("history").get<std::vector<EpochRecord>>();
    RT_CHECK_USER(meta_.num_classes >= 1 && meta_.num_classes <= 1'000'000, "its class count {} is out of range",
                  meta_.num_classes);
    for (const auto& [name, t] : tensors_) {
      if (starts_with(name, kCompressionPrefix))
        meta_.grad_compression.tensors.emplace_back(name.substr(std::strlen(kCompressionPrefix)), t.to(device_));
      if (starts_with(name, kLookaheadPrefix))
        meta_.lookahead.emplace_back(name.substr(std::strlen(kLookaheadPrefix)), t);
    }
    const int64_t world = meta_.grad_compression.world = j.value("grad_compression_world", int64_t{0});
    RT_CHECK_USER(meta_.grad_compression.empty() || (world >= 1 && world <= 65536),
                  "its gradient compression state names {} workers", world);
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: checkpoint metadata is damaged ({})", path_, e.what()));
  } catch (const UserError& e) {
    throw UserError(fmt::format("{}: {}", path_, e.what()));
  }
  RT_CHECK_USER(tensors_.count(kRngName) > 0, "{}: holds no generator state (rng/cpu)", path_);
  const auto now = cpu_rng_state();
  const auto& rng = tensor(kRngName, now.scalar_type(), now.sizes());
  RT_CHECK_USER(is_valid_cpu_rng_state(rng),
                "{}: its generator state (rng/cpu) is not a valid one (crafted or corrupt)", path_);
}

const torch::Tensor& CheckpointReader::tensor(const std::string& name, torch::ScalarType dtype,
                                              c10::IntArrayRef shape) const {
  const auto it = tensors_.find(name);
  RT_CHECK_USER(it != tensors_.end(), "{}: holds no tensor {}; it is not a checkpoint of this model", path_, name);
  RT_CHECK_USER(it->second.scalar_type() == dtype && it->second.sizes() == shape,
                "{}: tensor {} is {} [{}], expected {} [{}]; it is not a checkpoint of this model", path_, name,
                c10::toString(it->second.scalar_type()), fmt::join(it->second.sizes(), ", "), c10::toString(dtype),
                fmt::join(shape, ", "));
  return it->second;
}

void CheckpointReader::load_model(Classifier& model) {
  RT_CHECK_USER(model.arch() == meta_.model && model.num_classes() == meta_.num_classes,
                "{} holds a {} with {} classes, but the model is a {} with {} classes; use the "
                "checkpoint's model (drop --model/--num-classes) or another checkpoint",
                path_, meta_.model, meta_.num_classes, model.arch(), model.num_classes());
  // Every tensor is checked before any is copied: a refused checkpoint leaves the model as it was.
  std::vector<std::pair<torch::Tensor, const torch::Tensor*>> copies;
  size_t expected = 0;
  for (const auto& list : {model.named_parameters(), model.named_buffers()}) {
    for (const auto& p : list) {
      copies.emplace_back(p.value(), &tensor(kModelPrefix + p.key(), p.value().scalar_type(), p.value().sizes()));
      ++expected;
    }
  }
  size_t held = 0;
  for (const auto& [name, t] : tensors_) held += starts_with(name, kModelPrefix) ? 1 : 0;
  RT_CHECK_USER(held == expected, "{}: holds {} model tensors, a {} has {}; it is not a checkpoint of this model",
                path_, held, meta_.model, expected);
  torch::NoGradGuard no_grad;
  for (auto& [to, from] : copies) to.copy_(*from);
}

void CheckpointReader::load_optimizer(torch::optim::Optimizer& opt, Classifier& model) {
  std::map<std::string, torch::Tensor> params;
  for (const auto& p : model.named_parameters()) params.emplace(p.key(), p.value());
  std::vector<std::pair<torch::Tensor, const torch::Tensor*>> buffers;
  for (const auto& [name, t] : tensors_) {
    if (!starts_with(name, kMomentumPrefix)) continue;
    const auto p = params.find(name.substr(std::string(kMomentumPrefix).size()));
    RT_CHECK_USER(p != params.end(), "{}: holds a momentum buffer for {}, which is no parameter of a {}", path_, name,
                  meta_.model);
    buffers.emplace_back(p->second, &tensor(name, p->second.scalar_type(), p->second.sizes()));
  }
  auto& state = opt.state();
  torch::NoGradGuard no_grad;
  for (const auto& [param, saved] : buffers) {
    auto buffer = torch::empty_like(param);  // the parameter's device and memory format
    buffer.copy_(*saved);
    state[param.unsafeGetTensorImpl()] =
        std::make_unique<torch::optim::SGDParamState>(torch::optim::SGDParamState().momentum_buffer(buffer));
  }
}

void CheckpointReader::restore_rng() {
  const auto now = cpu_rng_state();
  set_cpu_rng_state(tensor(kRngName, now.scalar_type(), now.sizes()));
}

}  // namespace rt
