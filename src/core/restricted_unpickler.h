// A pickle reader that can only build data, in one of two vocabularies, and nothing else.
// Python's pickle module calls whatever a file names (`os.system` as easily as `OrderedDict`),
// which is why PyTorch made torch.load(weights_only=True) the default in 2.6; this reader is the
// same idea in C++:
//  - kStateDict: what torch.save writes for a state_dict (dicts, OrderedDicts, lists, tuples,
//    numbers, strings and tensors), with the few globals torch's weights-only unpickler needs for
//    one: collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter /
//    _rebuild_parameter_with_state, torch._tensor._rebuild_from_type_v2 (for torch.Tensor and
//    torch.nn.Parameter), torch.Size and the storage classes;
//  - kNumpyArrays: dicts and lists of numbers, strings and numpy arrays of numbers, as the
//    CIFAR "python version" batches hold them (written by Python 2's cPickle, read by
//    torchvision with encoding="latin1") and as Python 3 writes them at protocols 2 to 5: the
//    globals numpy's array and dtype reconstruction names (numpy[._]core.multiarray._reconstruct
//    with numpy.ndarray, numpy.dtype, numpy[._]core.numeric._frombuffer) and _codecs.encode
//    (protocol 2's bytes), each with exactly the arguments numpy gives it.
// Any other global, opcode or shape of arguments is refused with a UserError, and so is a tensor
// whose sizes, strides and offset reach outside the storage it declares (the caller checks that
// storage against the file) or an array whose bytes are not its shape times its item size.
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

struct PickleValue;

// A numpy array (kNumpyArrays): C-ordered unless `fortran`; `data` holds exactly numel x the item
// size bytes, in the dtype's byte order.
struct PickleArray {
  std::string dtype;      // numpy's type code: "u1", "i8", "f4", ... (a kind letter and a size in bytes)
  char byte_order = '|';  // '|' (not applicable), '<' (little endian), '>' (big endian)
  std::vector<int64_t> shape;
  bool fortran = false;
  const PickleValue* data = nullptr;  // a kBytes or kString value; null until the array is built
  int64_t item_size() const;          // from dtype
};

struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kBytes,
    kTuple,
    kList,
    kDict,
    kTensor,
    kGlobal,
    kStorage,
    kArray,
    kDtype
  };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;                 // a string, bytes, or a global's "module.name"
  std::vector<PickleValue*> items;  // a tuple's or list's items; a dict's keys and values, interleaved
  PickleStorage storage;
  PickleTensor tensor;
  PickleArray array;  // kArray; kDtype uses its dtype and byte_order
  int depth = 1;      // containers: 1 + their deepest item's depth when made
};

// The unpickled object; the values live as long as this.
struct Pickle {
  PickleValue* root = nullptr;
  std::vector<std::unique_ptr<PickleValue>> arena;
};

enum class PickleVocabulary { kStateDict, kNumpyArrays };

// Unpickles `bytes` (protocols 2 to 5); `what` names the file in messages. Throws UserError for
// anything outside the vocabulary or malformed.
Pickle unpickle_restricted(const std::string& bytes, const std::string& what,
                           PickleVocabulary vocabulary = PickleVocabulary::kStateDict);

// A dict's value for a string (or, kNumpyArrays, bytes) key; null when absent or not a dict.
const PickleValue* pickle_dict_get(const PickleValue& dict, const std::string& key);

}  // namespace rt
