// libFuzzer harness for the file-index cache parser (data/image_index.h, Note [Index cache]):
// any text is either refused with a reason or parsed into a cache that holds no path outside
// the split and that writes back to text parsing to the same cache. A failed property throws
// std::logic_error, which libFuzzer reports as a finding, as it does a crash or a sanitizer
// report. Build (clang 14; no LibTorch needed) and run on the seeds:
//   clang++-14 -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
//     -DFMT_HEADER_ONLY=1 -Isrc tests/fuzz/fuzz_image_index.cpp src/data/image_index.cpp src/data/data_file.cpp
//     src/core/files.cpp src/core/log.cpp -o fuzz_image_index
//   mkdir -p corpus && cp tests/fuzz/seeds/image_index/* corpus/ &&
//   ./fuzz_image_index -max_total_time=150 -max_len=4096 -dict=tests/fuzz/image_index.dict corpus
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/errors.h"
#include "data/image_index.h"

namespace {

void require(bool cond, const char* what) {
  if (!cond) throw std::logic_error(what);
}

// Whether `path` stays inside the folder it is relative to: not absolute, and no empty, "." or
// ".." component.
bool inside(const std::string& path) {
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    rt::IndexCache cache;
    std::string why;
    if (!rt::parse_index_cache(text, cache, why)) {
      require(!why.empty() && cache.files.empty(), "a refused cache without a reason, or with files");
      return 0;
    }
    require(why.empty() && cache.class_names.size() >= 2 && !cache.files.empty(), "an accepted cache with no files");
    for (const auto& [label, path] : cache.files) {
      require(label >= 0 && label < static_cast<int64_t>(cache.class_names.size()), "a label out of range");
      require(inside(path), "a path leaving the split");
    }
    rt::IndexCache again;
    require(rt::parse_index_cache(rt::index_cache_text(cache), again, why), "its own text does not parse");
    require(again.class_names == cache.class_names && again.folders == cache.folders && again.files == cache.files,
            "its own text parses to another cache");
  } catch (const rt::UserError&) {
  }
  return 0;
}
