// Reading a torch.save file (a zip archive: data.pkl and the tensors' storages) with LibTorch's
// unpickler, including files of a collections.OrderedDict: what model.state_dict() returns,
// so what torchvision's own weight files and most checkpoints hold. LibTorch's unpickler reads
// an OrderedDict as None (pytorch/pytorch#100741); here each is turned into a plain dict in the
// pickle first, its `_metadata` (per-module version numbers) dropped, and the rest is LibTorch's.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

namespace rt {

// `pickle` (a data.pkl of protocol 2, as torch.save writes) with every OrderedDict a plain dict;
// nullopt when it holds none or uses an opcode this rewrite does not know.
std::optional<std::string> ordered_dicts_as_dicts(const std::string& pickle);

// The object a torch.save zip archive holds, its tensors on the CPU. Throws std::exception
// (from LibTorch) when the bytes are not such an archive.
c10::IValue load_torch_save(const std::vector<char>& archive);

}  // namespace rt
