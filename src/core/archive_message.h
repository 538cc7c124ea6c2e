// libarchive's last error as text, for messages: archive_error_string returns NULL when
// libarchive set no error string (a fuzzed zip found it), and NULL must never reach a formatter.
#pragma once

#include <archive.h>

#include <string>

namespace rt {

inline std::string archive_message(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "libarchive gave no detail";
}

}  // namespace rt
