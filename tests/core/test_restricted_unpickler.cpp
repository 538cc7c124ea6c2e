// The restricted unpickler on hand-made pickles: a state_dict as torch.save writes one reads;
// everything that could run code, lie about a tensor's extent, or exhaust the reader is refused
// with a UserError (the python_roundtrip and untrusted_files tests read real files).
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/restricted_unpickler.h"

namespace rt {
namespace {

using namespace std::string_literals;

// A tensor as torch.save writes one: _rebuild_tensor_v2(storage, offset, size, stride, False,
// OrderedDict()), its storage a persistent id ('storage', FloatStorage, key, 'cpu', numel).
std::string tensor(const std::string& key, int numel, int offset, const std::string& size_tuple,
                   const std::string& stride_tuple) {
  return "ctorch._utils\n_rebuild_tensor_v2\n"
         "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX"s +
         std::string(1, static_cast<char>(key.size())) + "\x00\x00\x00"s + key +
         "X\x03\x00\x00\x00"
         "cpu"s +
         "K" + std::string(1, static_cast<char>(numel)) + "tQ" + "K" + std::string(1, static_cast<char>(offset)) +
         size_tuple + stride_tuple +
         "\x89"
         "ccollections\nOrderedDict\n)R"
         "tR"s;
}

// OrderedDict({"w": tensor}) with BUILD of {"_metadata": OrderedDict()}, as model.state_dict().
std::string state_dict(const std::string& t) {
  return "\x80\x02"
         "ccollections\nOrderedDict\nq\x00)Rq\x01"
         "X\x01\x00\x00\x00w"s +
         t + "s}X\x09\x00\x00\x00_metadatah\x00)Rsb."s;
}

std::string refusal(const std::string& pickle) {
  try {
    unpickle_restricted(pickle, "w.pt");
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(RestrictedUnpickler, ReadsAStateDictAsTorchSaveWritesIt) {
  // w: a 2x3 view at offset 1 of a storage of 8, strides (3, 1): elements 1..6.
  const Pickle p = unpickle_restricted(state_dict(tensor("0", 8, 1, "K\x02K\x03\x86", "K\x03K\x01\x86")), "w.pt");
  ASSERT_EQ(p.root->kind, PickleValue::Kind::kDict);
  ASSERT_EQ(p.root->items.size(), 2u);
  EXPECT_EQ(p.root->items[0]->text, "w");
  const PickleTensor& t = p.root->items[1]->tensor;
  EXPECT_EQ(t.storage.key, "0");
  EXPECT_EQ(t.storage.dtype, "F32");
  EXPECT_EQ(t.storage.numel, 8u);
  EXPECT_EQ(t.offset, 1);
  EXPECT_EQ(t.sizes, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.strides, (std::vector<int64_t>{3, 1}));
}

TEST(RestrictedUnpickler, RefusesWhatCouldRunCodeOrLie) {
  const std::string ok_sizes = "K\x02K\x03\x86", ok_strides = "K\x03K\x01\x86";
  struct Case {
    std::string pickle, expect;
  };
  const std::vector<Case> cases = {
      // The classic: os.system("...") through REDUCE; builtins.eval; a GLOBAL of an allowed module's other name.
      {"\x80\x02"
       "cos\nsystem\nX\x04\x00\x00\x00"
       "echo\x85R."s,
       "global os.system"},
      {"\x80\x02"
       "cbuiltins\neval\n."s,
       "global builtins.eval"},
      {"\x80\x02"
       "ctorch._utils\n_rebuild_device_tensor_from_numpy\n."s,
       "_rebuild_device_tensor_from_numpy"},
      {"\x80\x04X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93."s, "global os.system"},  // STACK_GLOBAL
      {"\x80\x02"
       "ctorch\nSize\nX\x01\x00\x00\x00x\x85R."s,
       "torch.Size of no tuple"},
      {"\x80\x02"
       "ccollections\nOrderedDict\n]\x85R."s,
       "OrderedDict with arguments"},
      {"\x80\x02]\x81."s, "opcode 0x81"},  // NEWOBJ
      {"\x80\x02"
       "cos\nsystem\n"s,
       "global os.system"},
      {"\x80\x02(I1\n."s, "opcode 0x49"},  // text INT (protocol 0)
      {"\x80\x02N]b."s, "BUILD of an object"},
      // Tensors that reach outside their storage, or whose shape lies.
      {state_dict(tensor("0", 8, 3, ok_sizes, ok_strides)), "outside its storage"},
      {state_dict(tensor("0", 8, 0, "K\x03K\x03\x86", ok_strides)), "outside its storage"},
      {state_dict(tensor("0", 8, 0, ok_sizes, "K\x03J\xff\xff\xff\xff\x86")), "negative or non-integer"},
      {state_dict(tensor("0", 8, 0, "K\x02\x85", ok_strides)), "as many strides as sizes"},
      {state_dict(tensor("0", 8, 0, "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40K\x05\x86"s, ok_strides)),
       "more elements than can exist"},
      {state_dict(tensor("0", 8, 0, "X\x01\x00\x00\x00x"s, ok_strides)), "not a tuple"},
      // Malformed or exhausting pickles.
      {"\x80\x02}"s, "truncated"},
      {"\x80\x02X\xff\xff\xff\x7f"
       "abc."s,
       "runs past the end"},
      {"\x80\x02\x8d\xf7\xff\xff\xff\xff\xff\xff\xff"
       "abc."s,
       "runs past the end"},
      {"\x80\x02h\x05."s, "memo reference to nothing"},
      {"\x80\x02s."s, "too few values"},
      {"\x80\x02t."s, "without one"},
      {"\x80\x02NN."s, "leaves 2 values"},
      {"\x80\x02" + std::string(150, ']') + std::string(149, 'a') + "."s, "nested more than 100 deep"},
      {"\x80\x02N" + std::string(200, '\x85') + "."s, "nested more than 100 deep"},
      {"\x80\x09."s, "protocol above 5"},
      {"\x80\x02"
       "c" +
           std::string(300, 'a') + "\nb\n."s,
       "not a short line"},
      {"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00"
       "0X\x03\x00\x00\x00"
       "cpuJ\xff\xff\xff\xfftQ."s,
       "persistent id"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string error = refusal(cases[i].pickle);
    EXPECT_NE(error.find(cases[i].expect), std::string::npos) << "case " << i << ": '" << error << "'";
    if (!error.empty()) {
      EXPECT_NE(error.find("w.pt"), std::string::npos) << error;
    }
  }
}

}  // namespace
}  // namespace rt
