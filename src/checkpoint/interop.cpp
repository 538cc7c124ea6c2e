#include "checkpoint/interop.h"

#include <fmt/ranges.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/serialize.h>

#include "checkpoint/torch_save_reader.h"
#include "core/errors.h"
#include "core/files.h"

namespace rt {

namespace {

std::map<std::string, torch::Tensor> named_state(Classifier& model) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : model.named_parameters()) state[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) state[b.key()] = b.value();
  return state;
}

// A weight file larger than this is refused before it is read (ResNet-152's is 0.24 GB).
constexpr uint64_t kMaxWeightFileBytes = uint64_t{16} << 30;

std::string shape_str(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

std::string first_few(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 5; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 5) s += fmt::format(" and {} more", names.size() - 5);
  return s;
}

}  // namespace

void save_tensor_dict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t.detach().cpu().contiguous().clone());
  // As torch::pickle_save, but with untagged containers: torch.load(weights_only=True), the
  // default since PyTorch 2.6, refuses the type-tag global that pickle_save writes.
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* buf, size_t size) { pickle.insert(pickle.end(), buf, buf + size); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(dict);
  pickler.stop();
  std::vector<char> bytes;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t len) {
      const char* b = static_cast<const char*>(data);
      bytes.insert(bytes.end(), b, b + len);
      return len;
    });
    torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
    writer.writeEndOfFile();
  }
  write_file_atomic(path, bytes.data(), bytes.size());
}

void export_state_dict(Classifier& model, const std::string& path) {
  // Registration order, as torchvision's state_dict lists them.
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : model.named_parameters()) tensors.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) tensors.emplace_back(b.key(), b.value());
  save_tensor_dict(path, tensors);
}

std::vector<std::string> import_state_dict(Classifier& model, const std::string& path, bool new_head) {
  std::map<std::string, torch::Tensor> loaded;
  for (auto& [name, t] :
       read_torch_save_state_dict(read_file_bytes(path, kMaxWeightFileBytes, "a weight file"), path)) {
    const bool wrapped = name.rfind("module.", 0) == 0;  // saved from a DDP-wrapped model
    loaded[wrapped ? name.substr(7) : name] = std::move(t);
  }
  auto state = named_state(model);
  std::vector<std::string> missing, unexpected, mismatched, kept_fresh;
  for (const auto& [name, t] : state) {
    auto it = loaded.find(name);
    if (it == loaded.end()) {
      // Files saved before BatchNorm had this counter lack it; PyTorch then starts it at 0 too.
      if (name.size() > 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0) continue;
      missing.push_back(name);
    } else if (it->second.sizes() != t.sizes()) {
      if (new_head && name.rfind("fc.", 0) == 0) {  // another class count: the new head keeps its initialisation
        kept_fresh.push_back(fmt::format("{} {} (the file's {})", name, shape_str(t), shape_str(it->second)));
        loaded.erase(it);
        continue;
      }
      mismatched.push_back(fmt::format("{} {} instead of {}", name, shape_str(it->second), shape_str(t)));
    }
  }
  for (const auto& [name, t] : loaded) {
    if (!state.count(name)) unexpected.push_back(name);
  }
  RT_CHECK_USER(missing.empty() && unexpected.empty() && mismatched.empty(),
                "{} does not fit {} with {} classes: {}{}{}; check --model, --num-classes and --stem", path,
                model.arch(), model.num_classes(),
                missing.empty() ? "" : fmt::format("missing {}. ", first_few(missing)),
                unexpected.empty() ? "" : fmt::format("unexpected {}. ", first_few(unexpected)),
                mismatched.empty() ? "" : fmt::format("other shapes: {}", first_few(mismatched)));
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : state) {
    if (loaded.count(name)) t.copy_(loaded.at(name).to(t.dtype()));
  }
  return kept_fresh;
}

}  // namespace rt
