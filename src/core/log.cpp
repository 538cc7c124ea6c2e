#include "core/log.h"

#include <unistd.h>

#include <cstdio>

namespace rt {

namespace {
int g_rank = 0;
}

void set_log_rank(int rank) { g_rank = rank; }
int log_rank() { return g_rank; }
bool stdout_is_tty() { return isatty(fileno(stdout)) != 0; }

std::string with_thousands(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

void print_line(const std::string& line) {
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void print_error_line(const std::string& line) {
  // One line, whatever it quotes: a control byte (a newline in a file name) is written as \xNN.
  std::string safe;
  for (const char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      safe += hex;
    } else {
      safe += ch;
    }
  }
  std::fputs(safe.c_str(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace rt
