#include "core/self_exec.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/errors.h"

namespace rt {

void exec_self(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv("/proc/self/exe", args.data());
  std::fprintf(stderr, "cannot run /proc/self/exe: %s\n", std::strerror(errno));
  _exit(127);
}

int run_self(const std::vector<std::string>& argv, std::string* captured) {
  int fds[2] = {-1, -1};
  if (captured) RT_CHECK_USER(pipe(fds) == 0, "cannot create a pipe: {}", std::strerror(errno));
  const pid_t pid = fork();
  RT_CHECK_USER(pid >= 0, "cannot start a run: {}", std::strerror(errno));
  if (pid == 0) {
    if (captured) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
    }
    exec_self(argv);
  }
  if (captured) {
    close(fds[1]);
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      captured->append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace rt
