#include "checkpoint/torch_save_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <map>
#include <memory>

#include "core/archive_message.h"
#include "core/errors.h"
#include "core/restricted_unpickler.h"
#include "core/safetensors.h"
#include "device/dtype_names.h"

namespace rt {

namespace {

// The records of a torch.save zip that the reader needs, by their name under the archive's
// top folder ("data.pkl", "data/0", "byteorder").
std::map<std::string, std::string> read_records(const std::vector<unsigned char>& bytes, const std::string& what) {
  const bool zip = bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0;
  RT_CHECK_USER(zip,
                "{}: not a torch.save file of PyTorch 1.6 or later (a zip archive); save the state_dict with "
                "torch.save(model.state_dict(), path) in a recent PyTorch",
                what);
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip_seekable(a.get());  // the central directory, as torch and Python read it
  RT_CHECK_USER(archive_read_open_memory(a.get(), bytes.data(), bytes.size()) == ARCHIVE_OK,
                "{}: not a readable zip archive ({})", what, archive_message(a.get()));
  std::map<std::string, std::string> records;
  std::string top;
  uint64_t total = 0;
  archive_entry* entry = nullptr;
  while (true) {
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    RT_CHECK_USER(r == ARCHIVE_OK || r == ARCHIVE_WARN, "{}: a damaged zip archive ({})", what,
                  archive_message(a.get()));
    const char* raw_name = archive_entry_pathname(entry);
    const std::string name = raw_name ? raw_name : "";
    const size_t slash = name.find('/');
    RT_CHECK_USER(slash != std::string::npos && slash > 0, "{}: zip entry '{}' is not inside the archive's folder",
                  what, name.substr(0, 100));
    if (top.empty()) top = name.substr(0, slash);
    RT_CHECK_USER(name.compare(0, slash, top) == 0, "{}: zip entries in two folders ({} and {}); not a torch.save file",
                  what, top.substr(0, 100), name.substr(0, 100));
    const std::string record = name.substr(slash + 1);
    if (record != "data.pkl" && record != "byteorder" && record.rfind("data/", 0) != 0) continue;
    RT_CHECK_USER(records.count(record) == 0, "{}: record {} appears twice", what, name.substr(0, 100));
    std::string data;
    char chunk[1 << 16];
    while (true) {
      const la_ssize_t n = archive_read_data(a.get(), chunk, sizeof chunk);
      RT_CHECK_USER(n >= 0, "{}: record {} cannot be read ({})", what, name.substr(0, 100), archive_message(a.get()));
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
      // torch.save stores its records uncompressed: together they cannot exceed the file.
      RT_CHECK_USER(total <= bytes.size(), "{}: its records unpack to more bytes than the file holds (crafted)", what);
      data.append(chunk, static_cast<size_t>(n));
    }
    records.emplace(record, std::move(data));
  }
  RT_CHECK_USER(records.count("data.pkl") > 0, "{}: a zip archive without data.pkl, not a torch.save file", what);
  const auto order = records.find("byteorder");
  RT_CHECK_USER(order == records.end() || order->second == "little",
                "{}: written on a {}-endian machine; this one reads little-endian files", what,
                order == records.end() ? "" : order->second.substr(0, 10));
  return records;
}

// The tensor a checked PickleTensor describes, its storage taken from the archive's record.
torch::Tensor make_tensor(const PickleTensor& t, const std::map<std::string, std::string>& records,
                          std::map<std::string, torch::Tensor>& storages, const std::string& what) {
  auto storage = storages.find(t.storage.key);
  if (storage == storages.end()) {
    const auto record = records.find("data/" + t.storage.key);
    RT_CHECK_USER(record != records.end(), "{}: the storage data/{} its tensors use is missing (truncated?)", what,
                  t.storage.key);
    const uint64_t bytes = t.storage.numel * safetensors_dtype_size(t.storage.dtype);  // checked by the unpickler
    RT_CHECK_USER(record->second.size() == bytes,
                  "{}: storage data/{} holds {} bytes, its declaration needs {} (truncated or crafted)", what,
                  t.storage.key, record->second.size(), bytes);
    auto flat = torch::empty({static_cast<int64_t>(t.storage.numel)}, torch::dtype(dtype_of(t.storage.dtype)));
    if (bytes > 0) std::memcpy(flat.data_ptr(), record->second.data(), bytes);
    storage = storages.emplace(t.storage.key, flat).first;
  }
  return storage->second.as_strided(t.sizes, t.strides, t.offset);
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> read_torch_save_state_dict(const std::vector<unsigned char>& bytes,
                                                                              const std::string& what) {
  const auto records = read_records(bytes, what);
  const Pickle pickle = unpickle_restricted(records.at("data.pkl"), what);
  using Kind = PickleValue::Kind;
  const PickleValue* dict = pickle.root;
  RT_CHECK_USER(dict->kind == Kind::kDict,
                "{}: holds a {}, not a state_dict (a dict of tensors); save "
                "model.state_dict() with torch.save",
                what,
                dict->kind == Kind::kTensor ? "tensor"
                : dict->kind == Kind::kList ? "list"
                                            : "value that is no dict");
  for (const char* nested : {"state_dict", "model"}) {  // {"state_dict": {...}, "epoch": ...}
    const PickleValue* inner = pickle_dict_get(*dict, nested);
    if (inner && inner->kind == Kind::kDict) {
      dict = inner;
      break;
    }
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  std::map<std::string, size_t> index;
  std::map<std::string, torch::Tensor> storages;
  for (size_t i = 0; i + 1 < dict->items.size(); i += 2) {
    const PickleValue* key = dict->items[i];
    const PickleValue* value = dict->items[i + 1];
    RT_CHECK_USER(key->kind == Kind::kString && value->kind == Kind::kTensor,
                  "{}: every entry of a state_dict must map a name to a tensor", what);
    auto t = make_tensor(value->tensor, records, storages, what);
    const auto [at, fresh] = index.emplace(key->text, out.size());
    if (fresh) {
      out.emplace_back(key->text, std::move(t));
    } else {  // a key set twice: the later value, as in Python
      out[at->second].second = std::move(t);
    }
  }
  return out;
}

}  // namespace rt
