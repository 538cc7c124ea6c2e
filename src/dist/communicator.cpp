#include "dist/communicator.h"

namespace rt {

namespace {

class DoneWork : public PendingWork {
 public:
  void wait() override {}
  bool is_completed() override { return true; }
};

class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "none"; }
  std::unique_ptr<PendingWork> allreduce_sum_async(torch::Tensor&, const std::string&) override {
    return std::make_unique<DoneWork>();
  }
  void broadcast(std::vector<torch::Tensor>&, int, const std::string&) override {}
  void barrier(const std::string&) override {}
};

}  // namespace

std::unique_ptr<Communicator> make_single_process_communicator() {
  return std::make_unique<SingleProcess>();
}

}  // namespace rt
