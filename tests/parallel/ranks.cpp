#include "parallel/ranks.h"

#include <cstdlib>
#include <exception>
#include <mutex>

#include "parallel/launcher.h"

namespace rt::test {

namespace {

// Note [Flight recorder in one process]: c10d's FlightRecorder (torch 2.11) inserts a process
// group's status into a std::map before it takes its mutex (recordWithResetEnabled in
// FlightRecorderDetail.hpp). Ranks that are threads of one process, each with its own
// ProcessGroupGloo, race on that map at their first collectives and can crash (seen here: a
// SIGSEGV in _Rb_tree_insert_and_rebalance under ProcessGroupGloo::enqueue, about one run of
// this test binary's GradSync tests in 15). ringtrain itself has one process group per
// process, issued from one thread at a time. The recorder reads TORCH_FR_BUFFER_SIZE once,
// when the first process group records; 0 turns it off for these in-process ranks.
const bool flight_recorder_off = [] { return setenv("TORCH_FR_BUFFER_SIZE", "0", /*overwrite=*/1) == 0; }();

void run_ranks_on(int port, int world, const std::function<void(int, Communicator&)>& body) {
  std::exception_ptr error;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        DistEnv env;
        env.rank = r;
        env.world_size = world;
        env.master_port = port;
        auto comm = make_communicator(env, "gloo", torch::kCPU, std::chrono::seconds(30));
        body(r, *comm);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

void run_ranks(int world, const std::function<void(int, Communicator&)>& body) {
  // The free port is found and released before rank 0 binds it: another test running in
  // parallel may take it in between. Only that (a failed bind) is retried with a new port.
  for (int attempt = 1;; ++attempt) {
    try {
      run_ranks_on(free_local_port(), world, body);
      return;
    } catch (const UserError& e) {
      if (attempt >= 3 || std::string(e.what()).find("cannot listen") == std::string::npos) throw;
    }
  }
}

}  // namespace rt::test
