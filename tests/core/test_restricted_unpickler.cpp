// The restricted unpickler on hand-made pickles: a state_dict as torch.save writes one reads, and
// numpy arrays as Python 2's cPickle (the CIFAR "python version") and Python 3 at protocols 2 and 5
// write them; everything that could run code, lie about a tensor's or an array's extent, or
// exhaust the reader is refused with a UserError (the python_roundtrip, untrusted_files and
// cifar_python tests read real files).
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

// {"data": array([[0, 1, 2], [3, 4, 255]], uint8), "labels": [1, 2]} as Python 2's cPickle
// (protocol 2) wrote the CIFAR batches: str as SHORT_BINSTRING / BINSTRING, the array through
// numpy.core.multiarray._reconstruct and a BUILD of (1, shape, dtype, fortran, bytes), the
// dtype's flags as integers.
const std::string kPython2Batch =
    "\x80\x02}q\x01(U\x04"
    "dataq\x02"
    "cnumpy.core.multiarray\n_reconstruct\nq\x03"
    "cnumpy\nndarray\nq\x04K\x00\x85q\x05U\x01"
    "bq\x06\x87q\x07Rq\x08"
    "(K\x01K\x02K\x03\x86q\x09"
    "cnumpy\ndtype\nq\x0aU\x02u1q\x0bK\x00K\x01\x87q\x0cRq\x0d"
    "(K\x03U\x01|q\x0eNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x0f"
    "b"
    "\x89T\x06\x00\x00\x00\x00\x01\x02\x03\x04\xffq\x10tq\x11"
    "b"
    "U\x06labelsq\x12]q\x13(K\x01K\x02"
    "eu."s;

// The same array as Python 3 pickles it at protocol 2 (numpy 2: numpy._core; the bytes as
// _codecs.encode(latin1 text)) and at protocol 5 (numpy._core.numeric._frombuffer of a
// BYTEARRAY8).
const std::string kProtocol2Array =
    "\x80\x02"
    "cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
    "c_codecs\nencode\nX\x01\x00\x00\x00"
    "bX\x06\x00\x00\x00latin1\x86R\x87R"
    "(K\x01K\x02K\x03\x86"
    "cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R"
    "(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    "\x89"
    "c_codecs\nencode\nX\x07\x00\x00\x00\x00\x01\x02\x03\x04\xc3\xbfX\x06\x00\x00\x00latin1\x86Rtb."s;
const std::string kProtocol5Array =
    "\x80\x05\x8c\x13numpy._core.numeric\x8c\x0b_frombuffer\x93"
    "(\x96\x06\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04\xff"
    "\x8c\x05numpy\x8c\x05"
    "dtype\x93\x8c\x02u1\x89\x88\x87R"
    "(K\x03\x8c\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    "K\x02K\x03\x86\x8c\x01"
    "Ct"
    "R."s;

void expect_array(const PickleValue* v) {
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->kind, PickleValue::Kind::kArray);
  EXPECT_EQ(v->array.dtype, "u1");
  EXPECT_EQ(v->array.byte_order, '|');
  EXPECT_EQ(v->array.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_FALSE(v->array.fortran);
  ASSERT_NE(v->array.data, nullptr);
  EXPECT_EQ(v->array.data->text, "\x00\x01\x02\x03\x04\xff"s);
}

TEST(RestrictedUnpickler, ReadsNumpyArraysAsPython2AndPython3WriteThem) {
  const Pickle batch = unpickle_restricted(kPython2Batch, "data_batch_1", PickleVocabulary::kNumpyArrays);
  expect_array(pickle_dict_get(*batch.root, "data"));
  const PickleValue* labels = pickle_dict_get(*batch.root, "labels");
  ASSERT_NE(labels, nullptr);
  ASSERT_EQ(labels->kind, PickleValue::Kind::kList);
  ASSERT_EQ(labels->items.size(), 2u);
  EXPECT_EQ(labels->items[1]->integer, 2);
  EXPECT_EQ(pickle_dict_get(*batch.root, "missing"), nullptr);
  expect_array(unpickle_restricted(kProtocol2Array, "a.pkl", PickleVocabulary::kNumpyArrays).root);
  expect_array(unpickle_restricted(kProtocol5Array, "a.pkl", PickleVocabulary::kNumpyArrays).root);
}

TEST(RestrictedUnpickler, RefusesArraysThatLieAndNumpyOutsideItsVocabulary) {
  auto numpy_refusal = [](const std::string& pickle) {
    try {
      unpickle_restricted(pickle, "data_batch_1", PickleVocabulary::kNumpyArrays);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto replaced = [](std::string s, const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  // Six bytes declared as a 2x4 array; an object array; a dtype with fields; numpy.ndarray called.
  EXPECT_NE(numpy_refusal(replaced(kPython2Batch, "K\x01K\x02K\x03\x86", "K\x01K\x02K\x04\x86"))
                .find("holding 6 bytes, not 8"),
            std::string::npos);
  EXPECT_NE(numpy_refusal(replaced(kPython2Batch, "U\x02u1", "U\x02O8")).find("not a number type"), std::string::npos);
  EXPECT_NE(numpy_refusal(replaced(kPython2Batch, "(K\x03U\x01|q\x0eNNN", "(K\x03U\x01|q\x0eN)N"))
                .find("fields or a subarray"),
            std::string::npos);
  EXPECT_NE(numpy_refusal("\x80\x02"
                          "cnumpy\nndarray\n)R."s)
                .find("a call of numpy.ndarray"),
            std::string::npos);
  EXPECT_NE(numpy_refusal("\x80\x02"
                          "c_codecs\nencode\nX\x02\x00\x00\x00\xe2\x82X\x06\x00\x00\x00latin1\x86R."s)
                .find("not latin1"),
            std::string::npos);
  // The state_dict vocabulary's globals and code are not part of it, and numpy is not part of a state_dict's.
  EXPECT_NE(numpy_refusal("\x80\x02"
                          "ccollections\nOrderedDict\n)R."s)
                .find("global collections.OrderedDict"),
            std::string::npos);
  EXPECT_NE(numpy_refusal("\x80\x02"
                          "cos\nsystem\nX\x04\x00\x00\x00"
                          "echo\x85R."s)
                .find("global os.system"),
            std::string::npos);
  EXPECT_NE(numpy_refusal("\x80\x02"
                          "cos\nsystem\n."s)
                .find("nothing that runs code"),
            std::string::npos);
  EXPECT_NE(refusal(kPython2Batch).find("opcode 0x55"), std::string::npos);
  EXPECT_NE(refusal(kProtocol2Array).find("global numpy._core.multiarray._reconstruct"), std::string::npos);
}

}  // namespace
}  // namespace rt
