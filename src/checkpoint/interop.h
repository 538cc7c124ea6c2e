// Weights to and from Python: a torch.save-compatible state_dict (parameter and buffer names
// equal torchvision's for the torchvision-architecture ResNets), written with LibTorch's pickler
// and read with checkpoint/torch_save_reader.h (which runs nothing in the file), so that Python loads
// it with torch.load(weights_only=True) and
// torchvision.models.resnetXX(num_classes=N) accepts it with load_state_dict(strict=True)
// (with the CIFAR stem: conv1 a 3x3 stride-1 conv, maxpool Identity).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "model/classifier.h"

namespace rt {

// Writes name -> tensor (on the CPU, contiguous) as a file Python's torch.load reads (also with
// weights_only=True) as a dict.
void save_tensor_dict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

// Writes every parameter and buffer of `model` (contiguous, on the CPU) as a dict name -> tensor.
void export_state_dict(Classifier& model, const std::string& path);

// Loads a torch.save'd state_dict (a dict of tensors, or one nested under "state_dict" or
// "model"; an OrderedDict as model.state_dict() returns and torchvision's weight files hold)
// into `model`, strictly: every name must be present with
// its shape and no other name may be there. Throws UserError listing what differs. With
// `new_head`, a head (fc.*) of another class count is the one exception: it keeps the model's
// initialisation (fine-tuning on other classes); the names so kept are returned.
std::vector<std::string> import_state_dict(Classifier& model, const std::string& path, bool new_head = false);

}  // namespace rt
