// A pickle reader that can only build data: what torch.save writes for a state_dict (dicts,
// OrderedDicts, lists, tuples, numbers, strings and tensors) and nothing else. Python's pickle
// module calls whatever a file names (`os.system` as easily as `OrderedDict`), which is why
// PyTorch made torch.load(weights_only=True) the default in 2.6; this reader is the same idea
// in C++ and allows the same few globals as torch's weights-only unpickler needs for a
// state_dict: collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter /
// _rebuild_parameter_with_state, torch._tensor._rebuild_from_type_v2 (for torch.Tensor and
// torch.nn.Parameter), torch.Size and the storage classes. Any other global, opcode or shape of
// arguments is refused with a UserError, and so is a tensor whose sizes, strides and offset
// reach outside the storage it declares (the caller checks that storage against the file).
// The reader never recurses (its values live in one arena, so cycles are harmless), bounds
// its stack, memo and nesting, and runs no code: it is torch-free and fuzzed on its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rt {

// A storage as a torch.save file declares it: the record "data/<key>" holds its bytes.
struct PickleStorage {
  std::string key;
  std::string dtype;  // a safetensors dtype name: "F32", "I64", ... ("U8" for an untyped storage)
  uint64_t numel = 0;
  std::string location;  // "cpu", "cuda:0", ...
};

// A tensor view of a storage, checked: sizes and strides non-negative, of equal length, and
// every element inside the storage's declared numel.
struct PickleTensor {
  PickleStorage storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

struct PickleValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict, kTensor, kGlobal, kStorage };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;                 // a string, bytes, or a global's "module.name"
  std::vector<PickleValue*> items;  // a tuple's or list's items; a dict's keys and values, interleaved
  PickleStorage storage;
  PickleTensor tensor;
  int depth = 1;  // containers: 1 + their deepest item's depth when made
};

// The unpickled object; the values live as long as this.
struct Pickle {
  PickleValue* root = nullptr;
  std::vector<std::unique_ptr<PickleValue>> arena;
};

// Unpickles `bytes` (protocols 2 to 5, as torch.save writes them); `what` names the file in
// messages. Throws UserError for anything outside the allowed subset or malformed.
Pickle unpickle_restricted(const std::string& bytes, const std::string& what);

}  // namespace rt
