#include "core/stop_signal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace rt {

namespace {

std::atomic<int> g_first_signal{0};

void on_stop_signal(int sig) {
  int expected = 0;
  if (!g_first_signal.compare_exchange_strong(expected, sig)) _exit(128 + sig);  // the second one
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal_received() { return g_first_signal.load(); }

}  // namespace rt
