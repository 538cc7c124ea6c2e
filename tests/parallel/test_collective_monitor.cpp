// CollectiveMonitor: the timeout of collectives the host does not wait for (NCCL), with fake
// collectives whose completion the test controls.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "parallel/collective_monitor.h"

namespace rt {

namespace {
using namespace std::chrono_literals;

struct Fired {
  std::mutex mu;
  std::vector<std::string> what, why;
  CollectiveMonitor::OnFailure handler() {
    return [this](const std::string& w, const std::string& y) {
      std::lock_guard lock(mu);
      what.push_back(w);
      why.push_back(y);
    };
  }
  size_t count() {
    std::lock_guard lock(mu);
    return what.size();
  }
};
}  // namespace

TEST(CollectiveMonitor, FinishedCollectivesNeverTimeOut) {
  Fired fired;
  std::atomic<bool> thread_init{false};
  {
    CollectiveMonitor monitor(200ms, fired.handler(), [&] { thread_init = true; });
    for (int i = 0; i < 50; ++i) {
      auto done = std::make_shared<std::atomic<bool>>(false);
      monitor.watch("allreduce " + std::to_string(i), [done] { return done->load(); });
      std::this_thread::sleep_for(10ms);  // 500 ms in all, each collective done within 10 ms
      *done = true;
    }
    for (int i = 0; i < 100 && monitor.in_flight() > 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(monitor.in_flight(), 0u);
  }
  EXPECT_TRUE(thread_init);
  EXPECT_EQ(fired.count(), 0u);
}

TEST(CollectiveMonitor, AStalledCollectiveIsNamedOnceAfterTheTimeout) {
  Fired fired;
  CollectiveMonitor monitor(300ms, fired.handler());
  const auto start = std::chrono::steady_clock::now();
  monitor.watch("allreduce of gradient bucket 0", [] { return true; });
  monitor.watch("allreduce of gradient bucket 1", [] { return false; });  // a peer never joins
  monitor.watch("allreduce of gradient bucket 2", [] { return false; });
  for (int i = 0; i < 200 && fired.count() == 0; ++i) std::this_thread::sleep_for(10ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(fired.count(), 1u);
  EXPECT_EQ(fired.what[0], "allreduce of gradient bucket 1");  // the oldest one still running
  EXPECT_NE(fired.why[0].find("did not finish within the timeout"), std::string::npos) << fired.why[0];
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 1500ms);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(fired.count(), 1u);  // once
}

// A collective that failed (c10d aborted its communicator: the work holds an exception) is
// reported at once with its error, not taken for finished.
TEST(CollectiveMonitor, AFailedCollectiveIsReportedWithItsError) {
  Fired fired;
  CollectiveMonitor monitor(10s, fired.handler());
  monitor.watch("broadcast of BatchNorm statistics", [] { return true; });
  monitor.watch("allreduce of the step flags", []() -> bool {
    throw std::runtime_error("NCCL error: remote process exited or there was a network error\nbacktrace...");
  });
  for (int i = 0; i < 200 && fired.count() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(fired.count(), 1u);
  EXPECT_EQ(fired.what[0], "allreduce of the step flags");
  EXPECT_EQ(fired.why[0], "NCCL error: remote process exited or there was a network error");  // first line
}

}  // namespace rt
