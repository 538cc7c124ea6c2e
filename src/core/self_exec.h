// Running this program again as a child: the built-in launcher's workers and `scale`'s runs
// and benchmarks are this same binary (/proc/self/exe) with other arguments.
#pragma once

#include <string>
#include <vector>

namespace rt {

// In a forked child: replaces it with this binary run with `argv` (argv[0] first). Never
// returns: when the exec fails, it says so on stderr and exits with code 127.
[[noreturn]] void exec_self(const std::vector<std::string>& argv);

// Runs this binary with `argv` as a child and returns its exit code (128 + the signal when it
// was killed). With `captured`, its standard output is collected there; otherwise it passes
// through.
int run_self(const std::vector<std::string>& argv, std::string* captured = nullptr);

}  // namespace rt
