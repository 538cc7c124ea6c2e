#include "train/torch_save_reader.h"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <cstring>
#include <map>
#include <set>

namespace rt {

namespace {

// The opcodes of a protocol-2 pickle and the bytes of their arguments (-1: a length-prefixed
// payload, its prefix `len_bytes` long; -2: two newline-terminated lines). Protocol 4's FRAME,
// MEMOIZE and STACK_GLOBAL are left out (torch.save writes protocol 2), and so are POP_MARK and
// DUP, whose stack effects the walk below does not model: a pickle with any of them is not
// rewritten.
struct OpInfo {
  int arg_bytes;
  int len_bytes;
};

bool op_info(unsigned char op, OpInfo& info) {
  switch (op) {
    case '(':
    case ')':
    case 'R':
    case 't':
    case 0x85:
    case 0x86:
    case 0x87:
    case 'Q':
    case 0x88:
    case 0x89:
    case 'N':
    case '}':
    case 's':
    case 'u':
    case ']':
    case 'a':
    case 'e':
    case 'b':
    case '0':
    case '.':
    case 0x81:
      info = {0, 0};
      return true;
    case 0x80:
    case 'q':
    case 'h':
    case 'K':
      info = {1, 0};
      return true;
    case 'M':
      info = {2, 0};
      return true;
    case 'r':
    case 'j':
    case 'J':
      info = {4, 0};
      return true;
    case 'G':
      info = {8, 0};
      return true;
    case 'X':
    case 'T':
    case 'B':
    case 0x8b:
      info = {-1, 4};
      return true;
    case 'U':
    case 'C':
    case 0x8a:
    case 0x8c:
      info = {-1, 1};
      return true;
    case 0x8d:
    case 0x8e:
      info = {-1, 8};
      return true;
    case 'c':
      info = {-2, 0};
      return true;
    default:
      return false;
  }
}

uint64_t little_endian(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<size_t>(i)]);
  return v;
}

}  // namespace

// How an opcode changes the stack: items popped (kToMark: down to and with the last MARK) and
// pushed. BINPUT/BINGET's memo effects are handled where they are read.
constexpr int kToMark = -1;
struct StackEffect {
  int pop, push;
};

StackEffect stack_effect(unsigned char op) {
  switch (op) {
    case '(':
      return {0, 1};  // MARK: a mark item
    case 't':
    case 'u':
    case 'e':
      return {kToMark, op == 't' ? 1 : 0};  // TUPLE pushes the tuple; SETITEMS, APPENDS fill the container below
    case 0x85:
      return {1, 1};
    case 0x86:
      return {2, 1};
    case 0x87:
      return {3, 1};
    case 'R':
    case 0x81:
      return {2, 1};  // REDUCE, NEWOBJ
    case 'Q':
      return {1, 1};  // BINPERSID
    case 's':
      return {2, 0};  // SETITEM
    case 'a':
    case 'b':
    case '0':
      return {1, 0};  // APPEND, BUILD, POP
    case 'q':
    case 'r':
    case 0x80:
    case '.':
      return {0, 0};
    default:
      return {0, 1};  // every other known opcode pushes one value
  }
}

std::optional<std::string> ordered_dicts_as_dicts(const std::string& pickle) {
  std::string out;
  out.reserve(pickle.size());
  // The stack, as the output offset where each item's bytes begin (marks are items too, so
  // that TUPLE/SETITEMS can find them: `is_mark`).
  std::vector<std::pair<size_t, bool>> stack;  // {start, is_mark}
  std::map<uint64_t, size_t> memo_at;          // memo slot -> output offset of its BINPUT
  std::set<uint64_t> class_memo, erased_memo;  // slots holding the OrderedDict class; slots erased with a state
  int expect = 0;  // after a reference to the class: 2 = skip its EMPTY_TUPLE, 1 = skip its REDUCE
  bool after_global = false, rewrote = false;
  size_t i = 0;
  while (i < pickle.size()) {
    const auto op = static_cast<unsigned char>(pickle[i]);
    OpInfo info{};
    if (!op_info(op, info)) return std::nullopt;
    size_t end = i + 1;
    if (info.arg_bytes == -2) {
      for (int line = 0; line < 2; ++line) {
        end = pickle.find('\n', end);
        if (end == std::string::npos) return std::nullopt;
        ++end;
      }
    } else if (info.arg_bytes == -1) {
      if (static_cast<size_t>(info.len_bytes) > pickle.size() - end) return std::nullopt;
      const uint64_t length = little_endian(pickle, end, info.len_bytes);
      end += static_cast<size_t>(info.len_bytes);
      if (length > pickle.size() - end) return std::nullopt;  // also a length that would wrap around
      end += static_cast<size_t>(length);
    } else {
      end += static_cast<size_t>(info.arg_bytes);
    }
    if (end > pickle.size()) return std::nullopt;
    const std::string whole = pickle.substr(i, end - i);
    i = end;
    const bool put = op == 'q' || op == 'r', get = op == 'h' || op == 'j';
    const uint64_t slot = put || get ? little_endian(whole, 1, op == 'q' || op == 'h' ? 1 : 4) : 0;
    if (put) memo_at[slot] = out.size();
    if (get && erased_memo.count(slot) > 0) return std::nullopt;  // refers into a dropped state
    if (expect > 0) {  // the class's call, OrderedDict() -> {} already emitted: skip it
      if (put && after_global && expect == 2) {
        class_memo.insert(slot);
        out += whole;  // memoizes the new dict instead of the class: that slot is only read through here
        after_global = false;
        continue;
      }
      if ((expect == 2 && op != ')') || (expect == 1 && op != 'R')) return std::nullopt;
      --expect;
      after_global = false;
      continue;
    }
    if ((op == 'c' && whole == "ccollections\nOrderedDict\n") || (get && class_memo.count(slot) > 0)) {
      stack.emplace_back(out.size(), false);
      out += '}';
      expect = 2;
      after_global = op == 'c';
      rewrote = true;
      continue;
    }
    if (op == 'b') {  // BUILD: an OrderedDict's state (its _metadata), which a plain dict has not: drop it
      if (stack.size() < 2) return std::nullopt;
      const size_t start = stack.back().first;
      for (const auto& [m, at] : memo_at) {
        if (at >= start) erased_memo.insert(m);
      }
      out.resize(start);
      stack.pop_back();
      continue;
    }
    const StackEffect e = stack_effect(op);
    size_t start = out.size();
    if (e.pop == kToMark) {
      while (!stack.empty() && !stack.back().second) stack.pop_back();
      if (stack.empty()) return std::nullopt;
      start = stack.back().first;
      stack.pop_back();
    } else {
      if (stack.size() < static_cast<size_t>(e.pop)) return std::nullopt;
      for (int k = 0; k < e.pop; ++k) {
        start = stack.back().first;
        stack.pop_back();
      }
    }
    if (e.push == 1) stack.emplace_back(start, op == '(');
    out += whole;
  }
  if (!rewrote || expect != 0) return std::nullopt;
  return out;
}

c10::IValue load_torch_save(const std::vector<char>& archive) {
  try {
    return torch::pickle_load(archive);
  } catch (const std::exception&) {
    // Perhaps an OrderedDict: read data.pkl, rewrite it, unpickle it with the archive's storages.
    auto reader = std::make_shared<caffe2::serialize::PyTorchStreamReader>(
        std::make_shared<caffe2::serialize::MemoryReadAdapter>(archive.data(), static_cast<off_t>(archive.size())));
    if (!reader->hasRecord("data.pkl")) throw;
    const auto [data, size] = reader->getRecord("data.pkl");
    const std::string pickle(static_cast<const char*>(data.get()), size);
    const auto plain = ordered_dicts_as_dicts(pickle);
    if (!plain) throw;
    size_t pos = 0;
    auto read = [&](char* buffer, size_t n) {
      const size_t k = std::min(n, plain->size() - pos);
      std::memcpy(buffer, plain->data() + pos, k);
      pos += k;
      return k;
    };
    auto read_record = [&](const std::string& name) { return std::get<0>(reader->getRecord("data/" + name)); };
    torch::jit::Unpickler unpickler(read, /*type_resolver=*/nullptr, /*obj_loader=*/nullptr, read_record,
                                    at::Device(at::kCPU));
    return unpickler.parse_ivalue();
  }
}

}  // namespace rt
