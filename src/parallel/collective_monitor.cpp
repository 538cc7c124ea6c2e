#include "parallel/collective_monitor.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace rt {

CollectiveMonitor::CollectiveMonitor(std::chrono::milliseconds timeout, OnFailure on_failure,
                                     std::function<void()> thread_init)
    : timeout_(timeout),
      interval_(std::clamp(timeout / 50, std::chrono::milliseconds(5), std::chrono::milliseconds(500))),
      on_failure_(std::move(on_failure)),
      thread_init_(std::move(thread_init)) {
  thread_ = std::thread([this] { run(); });
}

CollectiveMonitor::~CollectiveMonitor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CollectiveMonitor::watch(std::string what, Poll poll) {
  std::lock_guard lock(mu_);
  entries_.push_back({std::move(what), std::make_shared<Poll>(std::move(poll)), std::chrono::steady_clock::now()});
}

size_t CollectiveMonitor::in_flight() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

void CollectiveMonitor::run() {
  if (thread_init_) thread_init_();
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, interval_, [&] { return stop_; });
    // Collectives finish in the order they were started on the stream: poll from the oldest,
    // outside the lock (a CUDA event query can take a while).
    std::optional<std::string> failure;
    std::string what;
    while (!stop_ && !entries_.empty() && !failure) {
      const Entry front = entries_.front();
      lock.unlock();
      bool done = false;
      try {
        done = (*front.poll)();
      } catch (const std::exception& e) {
        const std::string msg = e.what();
        failure = msg.substr(0, msg.find('\n'));
      }
      const auto waited = std::chrono::steady_clock::now() - front.started;
      lock.lock();
      if (!failure && !done && waited >= timeout_) {
        failure = fmt::format("it did not finish within the timeout (waited {:.1f} s)",
                              std::chrono::duration<double>(waited).count());
      }
      if (failure) what = front.what;
      if (!done && !failure) break;  // the oldest is still running: the rest are too
      if (!entries_.empty()) entries_.pop_front();
    }
    if (!failure) continue;
    entries_.clear();
    stop_ = true;
    lock.unlock();
    on_failure_(what, *failure);  // the communicator's ends the process; a test's returns
    lock.lock();
  }
}

}  // namespace rt
