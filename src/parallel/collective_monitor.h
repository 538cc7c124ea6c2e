// CollectiveMonitor: the timeout of collectives that the host does not wait for. On NCCL a
// wait only orders the GPU stream after the collective (so the host keeps queueing work
// ahead); a collective that never ends, because a peer stalled or died, would go unnoticed
// until some later host read blocked for ever, and one that failed (c10d's watchdog aborted
// its communicator) would look finished. The monitor keeps the collectives in flight with
// their start times and polls them from a thread of its own, oldest first; the first one that
// fails, or is still running after the timeout, is handed to `on_failure`, once, and the
// monitor stops. The NCCL communicator's on_failure prints the one line naming the operation
// and the stalled rank and ends the process with exit code 3 (src/parallel/c10d_communicator.cpp),
// well before c10d's own watchdog would.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace rt {

class CollectiveMonitor {
 public:
  // Whether the collective has finished; throws when it failed (the message says why).
  using Poll = std::function<bool()>;
  using OnFailure = std::function<void(const std::string& what, const std::string& why)>;

  // `thread_init` runs first on the monitor's thread (the communicator selects its GPU there,
  // so that polling a CUDA event never creates a context on another device).
  CollectiveMonitor(std::chrono::milliseconds timeout, OnFailure on_failure, std::function<void()> thread_init = {});
  ~CollectiveMonitor();
  CollectiveMonitor(const CollectiveMonitor&) = delete;
  CollectiveMonitor& operator=(const CollectiveMonitor&) = delete;

  // Watches a collective started now until `poll()` says it has finished.
  void watch(std::string what, Poll poll);
  // Collectives still watched (for tests).
  size_t in_flight();

 private:
  struct Entry {
    std::string what;
    std::shared_ptr<Poll> poll;
    std::chrono::steady_clock::time_point started;
  };
  void run();

  std::chrono::milliseconds timeout_, interval_;
  OnFailure on_failure_;
  std::function<void()> thread_init_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> entries_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace rt
