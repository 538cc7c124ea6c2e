#include "core/restricted_unpickler.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <map>
#include <unordered_map>

#include "core/errors.h"
#include "core/safetensors.h"

namespace rt {

namespace {

// Bounds on what a state_dict needs, far above any real one (a ResNet-152's has ~4,000 values).
constexpr size_t kMaxValues = 4'000'000;
constexpr int kMaxDepth = 100;
constexpr size_t kMaxDims = 16;
constexpr size_t kMaxGlobalName = 256;

using Kind = PickleValue::Kind;

// The storage classes a persistent id may name, with the dtype of their elements.
const std::map<std::string, std::string>& storage_classes() {
  static const std::map<std::string, std::string> classes = {
      {"torch.FloatStorage", "F32"},     {"torch.DoubleStorage", "F64"}, {"torch.HalfStorage", "F16"},
      {"torch.BFloat16Storage", "BF16"}, {"torch.LongStorage", "I64"},   {"torch.IntStorage", "I32"},
      {"torch.ShortStorage", "I16"},     {"torch.CharStorage", "I8"},    {"torch.ByteStorage", "U8"},
      {"torch.BoolStorage", "BOOL"},     {"torch.UntypedStorage", "U8"}};
  return classes;
}

// The globals a state_dict file may name besides the storage classes (torch's weights-only
// allow-list, as far as a state_dict needs it).
bool allowed_state_dict_global(const std::string& name) {
  static const char* const names[] = {"collections.OrderedDict",
                                      "torch._utils._rebuild_tensor_v2",
                                      "torch._utils._rebuild_parameter",
                                      "torch._utils._rebuild_parameter_with_state",
                                      "torch._tensor._rebuild_from_type_v2",
                                      "torch.Tensor",
                                      "torch.nn.parameter.Parameter",
                                      "torch.Size"};
  for (const char* n : names) {
    if (name == n) return true;
  }
  return storage_classes().count(name) > 0;
}

// The globals numpy's pickles of arrays name (numpy 1 as numpy.core, numpy 2 as numpy._core), and
// the one Python 3 writes bytes with at protocol 2.
bool allowed_numpy_global(const std::string& name) {
  static const char* const names[] = {"numpy.core.multiarray._reconstruct",
                                      "numpy._core.multiarray._reconstruct",
                                      "numpy.core.numeric._frombuffer",
                                      "numpy._core.numeric._frombuffer",
                                      "numpy.ndarray",
                                      "numpy.dtype",
                                      "_codecs.encode"};
  for (const char* n : names) {
    if (name == n) return true;
  }
  return false;
}

bool is_reconstruct(const std::string& name) {
  return name == "numpy.core.multiarray._reconstruct" || name == "numpy._core.multiarray._reconstruct";
}
bool is_frombuffer(const std::string& name) {
  return name == "numpy.core.numeric._frombuffer" || name == "numpy._core.numeric._frombuffer";
}

// numpy's type codes for numbers: a kind (b bool, i signed, u unsigned, f float) and a size.
bool known_dtype(const std::string& code) {
  static const char* const codes[] = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"};
  for (const char* c : codes) {
    if (code == c) return true;
  }
  return false;
}

class Unpickler {
 public:
  Unpickler(const std::string& bytes, const std::string& what, PickleVocabulary vocabulary)
      : in_(bytes), what_(what), numpy_(vocabulary == PickleVocabulary::kNumpyArrays) {}

  Pickle run() {
    while (true) {
      RT_CHECK_USER(at_ < in_.size(), "{}: the pickle ends before its STOP (truncated)", what_);
      const auto op = static_cast<unsigned char>(in_[at_++]);
      if (op == '.') break;
      step(op);
    }
    RT_CHECK_USER(stack_.size() == 1 && marks_.empty(), "{}: the pickle leaves {} values on its stack, not one", what_,
                  stack_.size());
    pickle_.root = stack_.back();
    return std::move(pickle_);
  }

 private:
  [[noreturn]] void refuse(const std::string& why) const {
    throw UserError(fmt::format("{}: {} (at byte {} of {}); only {} are read, nothing that runs code", what_, why, at_,
                                numpy_ ? "the pickle" : "data.pkl",
                                numpy_ ? "dicts and lists of numbers, strings and numpy arrays"
                                       : "state_dicts of tensors, numbers and strings"));
  }

  const char* take(uint64_t n) {
    if (n > in_.size() - at_) refuse("a length that runs past the end of the pickle (truncated or crafted)");
    const char* p = in_.data() + at_;
    at_ += static_cast<size_t>(n);
    return p;
  }
  uint64_t uint_le(int n) {
    const auto* p = reinterpret_cast<const unsigned char*>(take(static_cast<uint64_t>(n)));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string line() {
    const size_t end = in_.find('\n', at_);
    if (end == std::string::npos || end - at_ > kMaxGlobalName) refuse("a GLOBAL name that is not a short line");
    std::string s = in_.substr(at_, end - at_);
    at_ = end + 1;
    return s;
  }

  PickleValue* make(Kind kind) {
    if (pickle_.arena.size() >= kMaxValues) refuse("more values than a state_dict holds");
    pickle_.arena.push_back(std::make_unique<PickleValue>());
    pickle_.arena.back()->kind = kind;
    return pickle_.arena.back().get();
  }
  PickleValue* container(Kind kind, std::vector<PickleValue*> items) {
    auto* v = make(kind);
    for (const auto* item : items) grow(v, item);
    v->items = std::move(items);
    return v;
  }
  void grow(PickleValue* container, const PickleValue* item) {
    container->depth = std::max(container->depth, item->depth + 1);
    if (container->depth > kMaxDepth) refuse("values nested more than 100 deep");
  }

  void push(PickleValue* v) {
    if (stack_.size() >= kMaxValues) refuse("a stack deeper than a state_dict needs");
    stack_.push_back(v);
  }
  PickleValue* pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) refuse("an opcode with too few values on the stack");
    auto* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) refuse("an opcode with too few values on the stack");
    return stack_.back();
  }
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) refuse("an opcode that needs a MARK without one");
    std::vector<PickleValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  PickleValue* integer(int64_t i) {
    auto* v = make(Kind::kInt);
    v->integer = i;
    return v;
  }
  PickleValue* string(Kind kind, uint64_t length) {
    auto* v = make(kind);
    const char* p = take(length);
    v->text.assign(p, static_cast<size_t>(length));
    return v;
  }
  PickleValue* global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!(numpy_ ? allowed_numpy_global(full) : allowed_state_dict_global(full)))
      refuse(fmt::format("it names the global {}, which {} does not need", full, numpy_ ? "an array" : "a state_dict"));
    auto* v = make(Kind::kGlobal);
    v->text = full;
    return v;
  }

  void set_item(PickleValue* dict, PickleValue* key, PickleValue* value) {
    if (dict->kind != Kind::kDict) refuse("SETITEM on something that is not a dict");
    if (key->kind != Kind::kString && key->kind != Kind::kInt && !(numpy_ && key->kind == Kind::kBytes))
      refuse("a dict key that is not a string or an integer");
    grow(dict, value);
    dict->items.push_back(key);
    dict->items.push_back(value);
  }
  void append(PickleValue* list, PickleValue* item) {
    if (list->kind != Kind::kList) refuse("APPEND on something that is not a list");
    grow(list, item);
    list->items.push_back(item);
  }

  static bool is_int(const PickleValue* v) { return v->kind == Kind::kInt; }
  std::vector<int64_t> ints(const PickleValue* v, const char* what) {
    if (v->kind != Kind::kTuple && v->kind != Kind::kList)
      refuse(fmt::format("a tensor's {} that is not a tuple", what));
    if (v->items.size() > kMaxDims) refuse(fmt::format("a tensor with {} dimensions", v->items.size()));
    std::vector<int64_t> out;
    for (const auto* i : v->items) {
      if (!is_int(i) || i->integer < 0)
        refuse(fmt::format("a tensor's {} holding a negative or non-integer value", what));
      out.push_back(i->integer);
    }
    return out;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  PickleValue* rebuild_tensor(const PickleValue* args) {
    if (args->items.size() < 6 || args->items.size() > 7 || args->items[0]->kind != Kind::kStorage ||
        !is_int(args->items[1])) {
      refuse("_rebuild_tensor_v2 with arguments other than a storage, an offset, sizes and strides");
    }
    PickleTensor t;
    t.storage = args->items[0]->storage;
    t.offset = args->items[1]->integer;
    t.sizes = ints(args->items[2], "sizes");
    t.strides = ints(args->items[3], "strides");
    if (t.offset < 0) refuse("a tensor with a negative storage offset");
    if (t.sizes.size() != t.strides.size()) refuse("a tensor with as many strides as sizes");
    uint64_t numel = 1, last = 0;
    for (size_t d = 0; d < t.sizes.size(); ++d) {
      const auto size = static_cast<uint64_t>(t.sizes[d]);
      uint64_t reach = 0;
      if (__builtin_mul_overflow(numel, size, &numel) ||
          (size > 0 && (__builtin_mul_overflow(size - 1, static_cast<uint64_t>(t.strides[d]), &reach) ||
                        __builtin_add_overflow(last, reach, &last)))) {
        refuse("a tensor with more elements than can exist");
      }
    }
    uint64_t end = static_cast<uint64_t>(t.offset);
    if (numel > 0 && (__builtin_add_overflow(end, last + 1, &end)))
      refuse("a tensor with more elements than can exist");
    if (end > t.storage.numel) {
      refuse(fmt::format("a tensor reaching element {} of a storage of {} (offset {}): outside its storage", end,
                         t.storage.numel, t.offset));
    }
    auto* v = make(Kind::kTensor);
    v->tensor = std::move(t);
    return v;
  }

  PickleValue* call(const PickleValue* f, PickleValue* args) {
    if (f->kind != Kind::kGlobal) refuse("REDUCE of something that is not an allowed global");
    if (args->kind != Kind::kTuple) refuse("REDUCE with arguments that are not a tuple");
    const std::string& name = f->text;
    const auto& a = args->items;
    if (numpy_) return call_numpy(name, a);
    if (name == "collections.OrderedDict") {
      if (!a.empty()) refuse("OrderedDict with arguments");
      return container(Kind::kDict, {});
    }
    if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(args);
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.size() < 3 || a.size() > 4 || a[0]->kind != Kind::kTensor) refuse("a parameter that is not a tensor");
      return a[0];
    }
    if (name == "torch._tensor._rebuild_from_type_v2") {  // (function, type, args, state)
      if (a.size() != 4 || a[0]->kind != Kind::kGlobal || a[1]->kind != Kind::kGlobal ||
          (a[1]->text != "torch.Tensor" && a[1]->text != "torch.nn.parameter.Parameter") ||
          a[0]->text == "torch._tensor._rebuild_from_type_v2") {
        refuse("_rebuild_from_type_v2 of something other than a tensor or a parameter");
      }
      PickleValue* inner = call(a[0], a[2]);
      if (inner->kind != Kind::kTensor) refuse("_rebuild_from_type_v2 that does not make a tensor");
      return inner;
    }
    if (name == "torch.Size") {
      if (a.size() != 1 || (a[0]->kind != Kind::kTuple && a[0]->kind != Kind::kList)) refuse("torch.Size of no tuple");
      return container(Kind::kTuple, a[0]->items);
    }
    refuse(fmt::format("a call of {}", name));
  }

  static bool is_text(const PickleValue* v) { return v->kind == Kind::kString || v->kind == Kind::kBytes; }

  static bool is_flag(const PickleValue* v) { return v->kind == Kind::kBool || v->kind == Kind::kInt; }

  // numpy.dtype(code, align=False, copy=True) (Python 2's numpy wrote the flags as 0 and 1); its
  // state (BUILD) gives the byte order.
  PickleValue* make_dtype(const std::vector<PickleValue*>& a) {
    if (a.size() != 3 || !is_text(a[0]) || !is_flag(a[1]) || !is_flag(a[2]))
      refuse("numpy.dtype with arguments other than (code, align, copy)");
    if (!known_dtype(a[0]->text)) refuse(fmt::format("an array of dtype \"{}\", not a number type", a[0]->text));
    auto* v = make(Kind::kDtype);
    v->array.dtype = a[0]->text;
    return v;
  }

  // An array's shape and bytes, checked: numel x item size == the bytes' length.
  void fill_array(PickleArray& array, const PickleValue* dtype, const PickleValue* shape, const PickleValue* data) {
    if (dtype->kind != Kind::kDtype) refuse("an array whose dtype is not a numpy.dtype");
    if (!is_text(data)) refuse("an array whose data is not bytes (an array of objects?)");
    array.dtype = dtype->array.dtype;
    array.byte_order = dtype->array.byte_order;
    array.shape = ints(shape, "shape");
    uint64_t bytes = static_cast<uint64_t>(array.item_size());
    for (const int64_t d : array.shape) {
      if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) refuse("an array larger than can exist");
    }
    if (bytes != data->text.size()) {
      refuse(fmt::format("an array of shape ({}) and dtype {} holding {} bytes, not {}", fmt::join(array.shape, ", "),
                         array.dtype, data->text.size(), bytes));
    }
    array.data = data;
  }

  PickleValue* call_numpy(const std::string& name, const std::vector<PickleValue*>& a) {
    if (name == "numpy.dtype") return make_dtype(a);
    if (is_reconstruct(name)) {  // _reconstruct(numpy.ndarray, (0,), b"b"): an empty array its BUILD fills
      if (a.size() != 3 || a[0]->kind != Kind::kGlobal || a[0]->text != "numpy.ndarray")
        refuse("_reconstruct of something other than a numpy.ndarray");
      return make(Kind::kArray);
    }
    if (is_frombuffer(name)) {  // _frombuffer(buffer, dtype, shape, order)
      if (a.size() != 4 || !is_text(a[3]) || (a[3]->text != "C" && a[3]->text != "F"))
        refuse("_frombuffer with arguments other than (buffer, dtype, shape, order)");
      auto* v = make(Kind::kArray);
      fill_array(v->array, a[1], a[2], a[0]);
      v->array.fortran = a[3]->text == "F";
      return v;
    }
    if (name == "_codecs.encode") {  // (text, "latin1"): Python 3's bytes at protocol 2
      if (a.size() != 2 || a[0]->kind != Kind::kString || !is_text(a[1]) ||
          (a[1]->text != "latin1" && a[1]->text != "latin-1")) {
        refuse("_codecs.encode of other than text to latin1");
      }
      return latin1(a[0]->text);
    }
    refuse(fmt::format("a call of {}", name));
  }

  // UTF-8 text of code points below 256 as the bytes latin1 encodes it to.
  PickleValue* latin1(const std::string& utf8) {
    auto* v = make(Kind::kBytes);
    v->text.reserve(utf8.size());
    for (size_t i = 0; i < utf8.size(); ++i) {
      const auto c = static_cast<unsigned char>(utf8[i]);
      if (c < 0x80) {
        v->text.push_back(static_cast<char>(c));
      } else if ((c == 0xc2 || c == 0xc3) && i + 1 < utf8.size() &&
                 (static_cast<unsigned char>(utf8[i + 1]) & 0xc0) == 0x80) {
        v->text.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3f)));
      } else {
        refuse("_codecs.encode of text that is not latin1");
      }
    }
    return v;
  }

  // BUILD of a numpy.dtype: (3, byte order, None, None, None, -1, -1, 0) as numpy writes it; of
  // an array made by _reconstruct: (1, shape, dtype, fortran, data).
  void build_numpy(PickleValue* target, const PickleValue* state) {
    const auto& s = state->items;
    if (state->kind != Kind::kTuple) refuse("BUILD with a state that is not a tuple");
    if (target->kind == Kind::kDtype) {
      if (s.size() < 2 || !is_int(s[0]) || !is_text(s[1]) || s[1]->text.size() != 1 ||
          std::string("|<>=").find(s[1]->text[0]) == std::string::npos) {
        refuse("a numpy.dtype state without a byte order");
      }
      for (size_t i = 2; i < s.size(); ++i) {
        if (s[i]->kind != Kind::kNone && !is_int(s[i])) refuse("a numpy.dtype with fields or a subarray");
      }
      target->array.byte_order = s[1]->text[0] == '=' ? '<' : s[1]->text[0];
      return;
    }
    if (target->kind != Kind::kArray || target->array.data != nullptr) refuse("BUILD of an object");
    if (s.size() != 5 || !is_int(s[0]) || s[0]->integer != 1 || !is_flag(s[3]))
      refuse("a numpy array state other than (1, shape, dtype, fortran, data)");
    fill_array(target->array, s[2], s[1], s[4]);
    target->array.fortran = s[3]->kind == Kind::kBool ? s[3]->boolean : s[3]->integer != 0;
  }

  // BINPERSID: ('storage', storage class, key, location, numel)
  PickleValue* persistent(const PickleValue* pid) {
    const auto& a = pid->items;
    if (pid->kind != Kind::kTuple || a.size() != 5 || a[0]->kind != Kind::kString || a[0]->text != "storage" ||
        a[1]->kind != Kind::kGlobal || storage_classes().count(a[1]->text) == 0 || a[2]->kind != Kind::kString ||
        a[2]->text.empty() || a[2]->text.size() > 128 || a[3]->kind != Kind::kString || !is_int(a[4]) ||
        a[4]->integer < 0) {
      refuse("a persistent id that is not ('storage', class, key, location, numel)");
    }
    PickleStorage s{a[2]->text, storage_classes().at(a[1]->text), static_cast<uint64_t>(a[4]->integer), a[3]->text};
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(s.numel, safetensors_dtype_size(s.dtype), &bytes))
      refuse("a storage larger than can exist");
    const auto seen = storages_.find(s.key);
    if (seen != storages_.end() && (seen->second.dtype != s.dtype || seen->second.numel != s.numel)) {
      refuse(fmt::format("storage {} declared twice with other types or sizes", s.key));
    }
    storages_.emplace(s.key, s);
    auto* v = make(Kind::kStorage);
    v->storage = std::move(s);
    return v;
  }

  void step(unsigned char op) {
    switch (op) {
      case 0x80:  // PROTO
        if (uint_le(1) > 5) refuse("a pickle protocol above 5");
        return;
      case 0x95:  // FRAME: a length hint
        uint_le(8);
        return;
      case '(':
        if (marks_.size() >= kMaxValues) refuse("more MARKs than a state_dict needs");
        marks_.push_back(stack_.size());
        return;
      case '0':
        pop();
        return;
      case '1':
        pop_mark();
        return;
      case '2':
        push(top());
        return;
      case 'N':
        return push(make(Kind::kNone));
      case 0x88:
      case 0x89: {
        auto* v = make(Kind::kBool);
        v->boolean = op == 0x88;
        return push(v);
      }
      case 'K':
        return push(integer(static_cast<int64_t>(uint_le(1))));
      case 'M':
        return push(integer(static_cast<int64_t>(uint_le(2))));
      case 'J':
        return push(integer(static_cast<int32_t>(static_cast<uint32_t>(uint_le(4)))));
      case 0x8a: {  // LONG1: n bytes, two's complement
        const auto n = static_cast<int>(uint_le(1));
        if (n > 8) refuse("an integer wider than 64 bits");
        if (n == 0) return push(integer(0));
        uint64_t v = uint_le(n);
        if (n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        return push(integer(static_cast<int64_t>(v)));
      }
      case 'G': {  // BINFLOAT: big-endian double
        const auto* p = reinterpret_cast<const unsigned char*>(take(8));
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        auto* v = make(Kind::kFloat);
        std::memcpy(&v->number, &bits, 8);
        return push(v);
      }
      case 'X':
        return push(string(Kind::kString, uint_le(4)));
      case 0x8c:
        return push(string(Kind::kString, uint_le(1)));
      case 0x8d:
        return push(string(Kind::kString, uint_le(8)));
      case 'B':
        return push(string(Kind::kBytes, uint_le(4)));
      case 'C':
        return push(string(Kind::kBytes, uint_le(1)));
      case 0x8e:
        return push(string(Kind::kBytes, uint_le(8)));
      case 0x96:  // BYTEARRAY8 (protocol 5, numpy's in-band buffers)
        if (!numpy_) refuse("opcode 0x96, which a state_dict does not need");
        return push(string(Kind::kBytes, uint_le(8)));
      case 'U':  // SHORT_BINSTRING, 'T' BINSTRING: Python 2's str, read as latin1 text (as torchvision does)
        if (!numpy_) refuse("opcode 0x55, which a state_dict does not need");
        return push(string(Kind::kString, uint_le(1)));
      case 'T': {
        if (!numpy_) refuse("opcode 0x54, which a state_dict does not need");
        const auto n = static_cast<int32_t>(static_cast<uint32_t>(uint_le(4)));
        if (n < 0) refuse("a BINSTRING of negative length");
        return push(string(Kind::kString, static_cast<uint64_t>(n)));
      }
      case ')':
        return push(container(Kind::kTuple, {}));
      case 0x85:
      case 0x86:
      case 0x87: {
        std::vector<PickleValue*> items(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        return push(container(Kind::kTuple, std::move(items)));
      }
      case 't':
        return push(container(Kind::kTuple, pop_mark()));
      case ']':
        return push(container(Kind::kList, {}));
      case 'l':
        return push(container(Kind::kList, pop_mark()));
      case '}':
        return push(container(Kind::kDict, {}));
      case 'd': {
        const auto items = pop_mark();
        if (items.size() % 2 != 0) refuse("DICT with an odd number of items");
        auto* dict = container(Kind::kDict, {});
        for (size_t i = 0; i < items.size(); i += 2) set_item(dict, items[i], items[i + 1]);
        return push(dict);
      }
      case 'a': {
        auto* item = pop();
        return append(top(), item);
      }
      case 'e': {
        const auto items = pop_mark();
        auto* list = top();
        for (auto* item : items) append(list, item);
        return;
      }
      case 's': {
        auto* value = pop();
        auto* key = pop();
        return set_item(top(), key, value);
      }
      case 'u': {
        const auto items = pop_mark();
        if (items.size() % 2 != 0) refuse("SETITEMS with an odd number of items");
        auto* dict = top();
        for (size_t i = 0; i < items.size(); i += 2) set_item(dict, items[i], items[i + 1]);
        return;
      }
      case 'c': {
        const std::string module = line();
        return push(global(module, line()));
      }
      case 0x93: {  // STACK_GLOBAL
        auto* name = pop();
        auto* module = pop();
        if (name->kind != Kind::kString || module->kind != Kind::kString) refuse("STACK_GLOBAL of no strings");
        return push(global(module->text, name->text));
      }
      case 'R': {
        auto* args = pop();
        auto* f = pop();
        return push(call(f, args));
      }
      case 'Q':
        return push(persistent(pop()));
      case 'b': {  // BUILD: the state of an OrderedDict (its _metadata) or a tensor, which a state_dict drops
        if (numpy_) {
          auto* state = pop();
          return build_numpy(top(), state);
        }
        pop();
        const auto* target = top();
        if (target->kind != Kind::kDict && target->kind != Kind::kTensor) refuse("BUILD of an object");
        return;
      }
      case 'q':
        memo_[uint_le(1)] = top();
        return;
      case 'r':
        memo_[uint_le(4)] = top();
        return;
      case 0x94:
        memo_[memo_.size()] = top();
        return;
      case 'h':
      case 'j': {
        const auto it = memo_.find(uint_le(op == 'h' ? 1 : 4));
        if (it == memo_.end()) refuse("a memo reference to nothing");
        return push(it->second);
      }
      default:
        refuse(fmt::format("opcode 0x{:02x}, which a state_dict does not need", op));
    }
  }

  const std::string& in_;
  const std::string& what_;
  const bool numpy_;
  size_t at_ = 0;
  Pickle pickle_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
  std::map<std::string, PickleStorage> storages_;
};

}  // namespace

int64_t PickleArray::item_size() const { return dtype.size() == 2 ? dtype[1] - '0' : 0; }

Pickle unpickle_restricted(const std::string& bytes, const std::string& what, PickleVocabulary vocabulary) {
  return Unpickler(bytes, what, vocabulary).run();
}

const PickleValue* pickle_dict_get(const PickleValue& dict, const std::string& key) {
  if (dict.kind != PickleValue::Kind::kDict) return nullptr;
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    const auto kind = dict.items[i]->kind;
    if ((kind == PickleValue::Kind::kString || kind == PickleValue::Kind::kBytes) && dict.items[i]->text == key)
      return dict.items[i + 1];
  }
  return nullptr;
}

}  // namespace rt
