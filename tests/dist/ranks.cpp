#include "dist/ranks.h"

#include "dist/launcher.h"

#include <exception>
#include <mutex>

namespace rt::test {

namespace {

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
