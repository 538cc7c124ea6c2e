#include "parallel/launcher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include "core/errors.h"
#include "core/log.h"
#include "core/membership.h"
#include "core/self_exec.h"
#include "core/timer.h"

namespace rt {

namespace {

volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) { g_signal = sig; }

}  // namespace

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) close(fd);
  RT_CHECK_USER(ok, "cannot find a free port for the workers' store: {}", std::strerror(errno));
  return ntohs(a.sin_port);
}

namespace {

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;
  std::string out_buf, err_buf, last_error;
  bool running = true;
  int exit_code = 0;
  bool prefix_stdout = true;
  bool killed = false;       // still running at the stop deadline: SIGKILLed (it hung)
  bool abandoned = false;    // did not die even then (uninterruptible sleep): left behind
  bool before_stop = false;  // ended before the launcher began stopping the group
  int order = 0;             // reaped as the order-th worker
};

// Seconds the workers have to stop after the first failure (SIGTERM), and then to die after
// SIGKILL before the launcher stops waiting for them.
constexpr int kStopSeconds = 10, kKillSeconds = 30;

// Prints the complete lines in `buf` with the rank prefix; keeps the incomplete tail.
void flush_lines(Worker& w, std::string& buf, bool to_stderr, bool all) {
  size_t start = 0;
  for (size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = buf.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (to_stderr && !line.empty()) w.last_error = line;
    const std::string text = to_stderr || w.prefix_stdout ? fmt::format("[rank {}] {}", w.rank, line) : line;
    to_stderr ? print_error_line(text) : print_line(text);
  }
  buf.erase(0, start);
  if (all && !buf.empty()) {
    buf += '\n';
    flush_lines(w, buf, to_stderr, false);
  }
}

pid_t spawn(const LaunchSpec& spec, int rank, int local_rank, int port, int out_pipe[2], int err_pipe[2]) {
  const pid_t pid = fork();
  RT_CHECK_USER(pid >= 0, "cannot start worker {}: {}", rank, std::strerror(errno));
  if (pid > 0) return pid;
  // Child: die with the launcher; report through the pipes; run this binary again.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  setpgid(0, 0);  // a terminal's Ctrl-C reaches the launcher only, which forwards it once
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  dup2(out_pipe[1], STDOUT_FILENO);
  dup2(err_pipe[1], STDERR_FILENO);
  close(out_pipe[0]);
  close(err_pipe[0]);
  setenv("RANK", std::to_string(rank).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(local_rank).c_str(), 1);
  setenv("WORLD_SIZE", std::to_string(spec.nproc).c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", std::to_string(spec.nproc).c_str(), 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  setenv(kWorkerEnv, "1", 1);
  setenv(kWorkerThreadsEnv, std::to_string(spec.threads_per_worker).c_str(), 1);
  exec_self(spec.argv);
}

struct GroupResult {
  int exit_code = 0;
  int failed_rank = -1;
  bool interrupted = false;  // the launcher itself got SIGINT/SIGTERM
};

// One run of the worker group; rank r runs on slot slots[r] (its LOCAL_RANK).
GroupResult run_group(const LaunchSpec& spec, const std::vector<int>& slots) {
  const char* env_port = std::getenv("MASTER_PORT");
  const int port = env_port && *env_port ? std::atoi(env_port) : free_local_port();

  std::vector<Worker> workers(static_cast<size_t>(spec.nproc));
  for (int r = 0; r < spec.nproc; ++r) {
    int out_pipe[2], err_pipe[2];
    RT_CHECK_USER(pipe2(out_pipe, O_CLOEXEC) == 0 && pipe2(err_pipe, O_CLOEXEC) == 0, "cannot create pipes: {}",
                  std::strerror(errno));
    Worker& w = workers[static_cast<size_t>(r)];
    w.rank = r;
    w.prefix_stdout = spec.prefix_stdout;
    w.pid = spawn(spec, r, slots[static_cast<size_t>(r)], port, out_pipe, err_pipe);
    close(out_pipe[1]);
    close(err_pipe[1]);
    w.out_fd = out_pipe[0];
    w.err_fd = err_pipe[0];
  }
  const std::string started =
      fmt::format("ringtrain: started {} worker{} (MASTER_ADDR=127.0.0.1 MASTER_PORT={}, {} thread{} each)", spec.nproc,
                  spec.nproc > 1 ? "s" : "", port, spec.threads_per_worker, spec.threads_per_worker > 1 ? "s" : "");
  spec.prefix_stdout ? print_line(started) : print_error_line(started);  // stdout kept machine-readable

  int failed_rank = -1, result = kExitOk;
  int forwarded_signal = 0;
  auto stop_at = std::chrono::steady_clock::time_point::max();
  auto stop_all = [&](int sig) {
    for (auto& w : workers) {
      if (w.running) kill(w.pid, sig);
    }
  };
  size_t running = workers.size();
  while (running > 0) {
    // Output of every worker, line by line, with its rank.
    std::vector<pollfd> fds;
    std::vector<std::pair<Worker*, bool>> owners;
    for (auto& w : workers) {
      for (bool is_err : {false, true}) {
        const int fd = is_err ? w.err_fd : w.out_fd;
        if (fd >= 0) {
          fds.push_back({fd, POLLIN, 0});
          owners.push_back({&w, is_err});
        }
      }
    }
    if (!fds.empty())
      poll(fds.data(), fds.size(), 100);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto [w, is_err] = owners[i];
      char chunk[65536];
      const ssize_t n = read(fds[i].fd, chunk, sizeof chunk);
      std::string& buf = is_err ? w->err_buf : w->out_buf;
      if (n > 0) {
        buf.append(chunk, static_cast<size_t>(n));
        flush_lines(*w, buf, is_err, false);
      } else if (n == 0 || errno != EINTR) {
        flush_lines(*w, buf, is_err, true);
        close(fds[i].fd);
        (is_err ? w->err_fd : w->out_fd) = -1;
      }
    }
    // Signals to the launcher go to every worker; a second one kills them.
    if (g_signal != 0) {
      const int sig = g_signal;
      g_signal = 0;
      stop_all(forwarded_signal ? SIGKILL : sig);
      forwarded_signal = sig;
      if (result == kExitOk) result = kExitInterrupted;  // unless a worker says otherwise
    }
    // Reap finished workers; the first failure stops the rest (Note [Whom a failure is blamed on]).
    bool failed_now = false;
    for (auto& w : workers) {
      if (!w.running) continue;
      int status = 0;
      if (waitpid(w.pid, &status, WNOHANG) != w.pid) continue;
      w.running = false;
      --running;
      w.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      w.before_stop = stop_at == std::chrono::steady_clock::time_point::max();
      w.order = static_cast<int>(workers.size() - running);
      if (forwarded_signal && w.exit_code != kExitOk && w.exit_code != kExitInterrupted) result = w.exit_code;
      if (w.exit_code != 0 && !forwarded_signal && !w.killed) {
        failed_now = failed_now || w.before_stop;
        // Its last words may still be in the pipe.
        for (int fd : {w.err_fd, w.out_fd}) {
          if (fd < 0) continue;
          char chunk[65536];
          ssize_t n;
          while ((n = read(fd, chunk, sizeof chunk)) > 0) {
            (fd == w.err_fd ? w.err_buf : w.out_buf).append(chunk, static_cast<size_t>(n));
          }
        }
        flush_lines(w, w.out_buf, false, true);
        flush_lines(w, w.err_buf, true, true);
      }
    }
    if (failed_now) {
      stop_all(SIGTERM);
      stop_at = std::chrono::steady_clock::now() + std::chrono::seconds(kStopSeconds);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now > stop_at) {  // did not stop in time: hung
      for (auto& w : workers) {
        if (w.running && !w.killed) {
          kill(w.pid, SIGKILL);
          w.killed = true;
        }
      }
    }
    if (stop_at != std::chrono::steady_clock::time_point::max() && now > stop_at + std::chrono::seconds(kKillSeconds)) {
      for (auto& w : workers) {
        if (!w.running) continue;
        w.running = false;
        w.abandoned = true;
        w.exit_code = 128 + SIGKILL;
        --running;
        print_error_line(
            fmt::format("ringtrain: worker rank {} (pid {}) is still there {} s after SIGKILL "
                        "(uninterruptible sleep, e.g. a lost GPU); the launcher stops waiting for it",
                        w.rank, w.pid, kKillSeconds));
      }
    }
  }
  // Note [Whom a failure is blamed on]
  // A worker that exits with a communication error (3) has lost a peer: it is the cause only if
  // no other is. First a worker that failed otherwise on its own (a crash, a bad input); then one
  // that never stopped and had to be killed (it hung: its peers timed out waiting for it, exited
  // 3, and were reaped first); only then the first communication error.
  // Workers that ended after being asked to stop (exit 0, interrupted, SIGTERM) are no cause;
  // among equals, the one reaped first.
  auto blame = [](const Worker& w) {
    if (w.killed) return 1;
    if (w.exit_code == kExitCommError) return 2;
    return w.exit_code != kExitOk && w.before_stop ? 0 : 3;
  };
  const Worker* cause = nullptr;
  if (!forwarded_signal) {
    for (const auto& w : workers) {
      if (blame(w) < 3 &&
          (cause == nullptr || std::make_pair(blame(w), w.order) < std::make_pair(blame(*cause), cause->order))) {
        cause = &w;
      }
    }
  }
  if (cause != nullptr) {
    failed_rank = cause->rank;
    result = cause->killed ? kExitCommError : cause->exit_code;
    print_error_line(fmt::format(
        "ringtrain: error: worker rank {} {}; the other workers were stopped", failed_rank,
        cause->killed ? fmt::format("hung (its peers timed out waiting for it; it did not stop in {} s and was "
                                    "killed{})",
                                    kStopSeconds, cause->abandoned ? ", in vain" : "")
                      : fmt::format("failed with exit code {}{}{}", cause->exit_code,
                                    cause->last_error.empty() ? "" : ": ", cause->last_error)));
  }
  return {result, failed_rank, forwarded_signal != 0};
}

}  // namespace

namespace {

// The membership log (LaunchSpec::membership_log, core/membership.h), timed from the job's start.
class MembershipLog {
 public:
  MembershipLog(std::string file, double job_start) : file_(std::move(file)), job_start_(job_start) {}
  // An event of `kind` on `slots`; failure and drop: whose (`slot`, `rank`) and how it ended.
  void add(const std::string& kind, const std::vector<int>& slots, int slot = -1, int rank = -1, int exit_code = 0,
           int64_t step = -1) {
    if (file_.empty()) return;
    MembershipEvent e;
    e.seconds = wall_clock_seconds() - job_start_;
    e.event = kind;
    e.world_size = static_cast<int64_t>(slots.size());
    e.slots.assign(slots.begin(), slots.end());
    e.slot = slot;
    e.rank = rank;
    e.exit_code = exit_code;
    e.step = step;
    append_membership_event(file_, e);
  }

 private:
  std::string file_;
  double job_start_;
};

// The last step rank 0 finished, from the file it keeps (-1 when there is none yet).
int64_t last_step(const std::string& file) {
  std::ifstream in(file);
  int64_t step = -1;
  if (!file.empty() && in >> step) return step;
  return -1;
}

std::string join(const std::vector<int>& v) {
  std::string s;
  for (const int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

}  // namespace

int launch_local_workers(const LaunchSpec& spec) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  LaunchSpec attempt = spec;
  if (attempt.threads_per_worker <= 0) {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    attempt.threads_per_worker = std::max(1, cores / std::max(1, spec.nproc));
  }
  std::vector<int> slots(static_cast<size_t>(spec.nproc));
  for (int i = 0; i < spec.nproc; ++i) slots[static_cast<size_t>(i)] = i;
  std::vector<int> failures(static_cast<size_t>(spec.nproc), 0), dropped;
  // Every attempt's workers learn when the job began, and where to log (inherited environment).
  const double job_start = wall_clock_seconds();
  setenv(kJobStartEnv, fmt::format("{:.6f}", job_start).c_str(), 1);
  if (!spec.membership_log.empty()) {
    setenv(kMembershipLogEnv, spec.membership_log.c_str(), 1);
    setenv(kLastStepFileEnv, spec.last_step_file.c_str(), 1);
  }
  MembershipLog membership(spec.membership_log, job_start);
  for (int restart = 0;; ++restart) {
    attempt.nproc = static_cast<int>(slots.size());
    setenv(kAttemptEnv, std::to_string(restart).c_str(), 1);
    // Each attempt's own last step: one that fails before it resumes reports none, not the
    // attempt before's (its rank 0 writes the step it resumes from first: log_attempt_start).
    if (!spec.last_step_file.empty()) std::remove(spec.last_step_file.c_str());
    membership.add("start", slots);
    const GroupResult r = run_group(attempt, slots);
    if (r.exit_code == kExitOk || r.interrupted || r.exit_code == kExitUserError) return r.exit_code;
    if (r.failed_rank >= 0) {
      const int slot = slots[static_cast<size_t>(r.failed_rank)];
      ++failures[static_cast<size_t>(slot)];
      membership.add("failure", slots, slot, r.failed_rank, r.exit_code, last_step(spec.last_step_file));
      if (spec.min_nproc > 0 && failures[static_cast<size_t>(slot)] >= kFailuresToDrop) {
        // Drop it; then, if the job cannot run on what is left, the highest healthy slots too.
        std::vector<int> gone = {slot};
        slots.erase(std::find(slots.begin(), slots.end(), slot));
        const auto runnable = [&spec](size_t n) {
          return static_cast<int>(n) >= spec.min_nproc && (!spec.world_ok || spec.world_ok(static_cast<int>(n)));
        };
        while (static_cast<int>(slots.size()) > spec.min_nproc && !runnable(slots.size())) {
          gone.push_back(slots.back());
          slots.pop_back();
        }
        dropped.push_back(slot);
        if (!runnable(slots.size())) {
          const bool below = static_cast<int>(slots.size()) < spec.min_nproc;
          print_error_line(fmt::format(
              "ringtrain: error: worker slot{} {} failed {} times each (last: rank {}, exit code {}); {} worker{} "
              "left, {}: giving up",
              dropped.size() > 1 ? "s" : "", join(dropped), kFailuresToDrop, r.failed_rank, r.exit_code, slots.size(),
              slots.size() == 1 ? "" : "s",
              below ? fmt::format("below --min-nproc {}", spec.min_nproc)
                    : fmt::format("and no number of workers down to --min-nproc {} can share the global batch",
                                  spec.min_nproc)));
          return kExitCommError;
        }
        for (const int g : gone) {
          membership.add("drop", slots, g, r.failed_rank, r.exit_code);
        }
        print_line(fmt::format(
            "ringtrain: worker slot {} failed {} times (last: rank {}, exit code {}): dropping "
            "slot{} {}; {} workers go on from the newest checkpoint",
            slot, kFailuresToDrop, r.failed_rank, r.exit_code, gone.size() > 1 ? "s" : "", join(gone), slots.size()));
      }
    }
    if (restart >= spec.max_restarts) {
      if (spec.max_restarts > 0) {
        print_error_line(fmt::format("ringtrain: error: giving up after {} restarts", spec.max_restarts));
      }
      return r.exit_code;
    }
    print_line(
        fmt::format("ringtrain: restart {}/{} after rank {} failed (exit code {}): {} workers start again from the "
                    "newest checkpoint",
                    restart + 1, spec.max_restarts, r.failed_rank, r.exit_code, slots.size()));
  }
}

}  // namespace rt
