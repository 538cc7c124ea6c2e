// libFuzzer harness for config files (core/config_file.h, Note [Config file limits]): the
// bytes are parsed as YAML and as JSON, and each mapping that parses is applied as a Config
// (config_from_json) and validated. A UserError is the expected answer to bad input; any other
// exception, a crash, a hang or a huge allocation is a finding. Writes nothing to disk.
//   clang++-14 -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_config.cpp \
//     src/core/config_file.cpp src/core/config.cpp src/core/config_table.cpp src/core/files.cpp \
//     src/core/log.cpp src/core/trace.cpp src/core/recipes.cpp src/core/grad_compression.cpp \
//     -lyaml-cpp -lfmt -o build/fuzz_config
//   build/fuzz_config -max_total_time=180 -rss_limit_mb=1024 -timeout=10 tests/fuzz/seeds/config
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/config_file.h"
#include "core/errors.h"

namespace {

void parse_and_apply(const std::string& text, rt::ConfigSyntax syntax, const char* name) {
  try {
    const nlohmann::json j = rt::parse_config_text(text, syntax, name);
    rt::validate(rt::config_from_json(j, name));
  } catch (const rt::UserError&) {
    // the one answer bad input may get
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  parse_and_apply(text, rt::ConfigSyntax::kYaml, "fuzz.yaml");
  parse_and_apply(text, rt::ConfigSyntax::kJson, "fuzz.json");
  return 0;
}
