// Reading a torch.save file (PyTorch 1.6+'s zip: <name>/data.pkl and the storages as
// <name>/data/<key>) without running anything in it: the zip is read with libarchive, every
// entry capped by the file's own size; data.pkl with core/restricted_unpickler.h, which builds
// only dicts, OrderedDicts, lists, tuples, numbers, strings and tensors; and each tensor is made
// only after its storage record is found with exactly the bytes its declaration needs (the
// unpickler has already checked the view against that declaration). What torchvision's weight
// files, model.state_dict() and our own `export` hold reads; anything else is a UserError.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace rt {

// The state_dict in `bytes` (a torch.save file; `what` names it in messages): a dict of name ->
// tensor, or one nested under "state_dict" or "model" of the top dict (a training checkpoint's
// other entries are read and left). In the file's order; tensors on the CPU.
std::vector<std::pair<std::string, torch::Tensor>> read_torch_save_state_dict(const std::vector<unsigned char>& bytes,
                                                                              const std::string& what);

}  // namespace rt
