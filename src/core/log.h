// Rank-aware console output. Messages go to stdout (progress) or stderr (warnings, errors);
// `log_info` prints only on rank 0 unless told otherwise.
#pragma once

#include <fmt/format.h>

#include <string>

namespace rt {

void set_log_rank(int rank);
int log_rank();
bool stdout_is_tty();

// 23520842 -> "23,520,842"
std::string with_thousands(long long n);

void print_line(const std::string& line);        // stdout, flushed
void print_error_line(const std::string& line);  // stderr, flushed, through one_line()
// `text` with CR, LF and other control characters written as \r, \n, \xHH: an error message
// quoting a user's value (a YAML key, a flag's text, a file name) stays one line.
std::string one_line(const std::string& text);

template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  if (log_rank() == 0) print_line(fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
  print_error_line("warning: " + fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace rt
