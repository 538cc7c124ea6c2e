// Typed errors. A UserError is a problem with the user's input (flags, files, data) that
// the user can fix: main() prints its one-line message and exits with code 2. Internal
// invariants use TORCH_INTERNAL_ASSERT instead.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace rt {

// Exit codes of the ringtrain binary (documented in the README).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;      // an unexpected internal error
constexpr int kExitUserError = 2;    // bad flags, data, checkpoint: fix the input and re-run
constexpr int kExitCommError = 3;    // a peer died, stalled or could not be reached
constexpr int kExitInterrupted = 4;  // stopped by SIGINT/SIGTERM after saving a checkpoint

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A collective or rendezvous failed: a peer died, stalled past the timeout, or is unreachable.
// The message names this rank, the operation and the cause.
class CommError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Training stopped on request (a signal) after its checkpoint was saved.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws UserError(fmt::format(...)) when cond is false. The message should name the value,
// file or rank, what was expected, and the fix.
#define RT_CHECK_USER(cond, ...)                                  \
  do {                                                            \
    if (!(cond)) throw ::rt::UserError(fmt::format(__VA_ARGS__)); \
  } while (0)

}  // namespace rt
