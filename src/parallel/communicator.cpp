#include "parallel/communicator.h"

#include <cstring>

#include "core/errors.h"

namespace rt {

namespace {

class DoneWork : public PendingWork {
 public:
  void wait() override {}
  void on_complete(std::function<void()> callback) override { callback(); }
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
  void confirm(const std::string&) override {}
};

}  // namespace

void check_ranks_agree(Communicator& comm, const std::string& what, uint64_t fingerprint, const torch::Device& device,
                       const std::string& fix) {
  if (comm.world_size() == 1) return;
  // Sum of the fingerprint and of its square (mod 2^64, exact in int64 arithmetic): both equal
  // W times this rank's values on every rank only if all ranks agree.
  const auto f = static_cast<int64_t>(fingerprint >> 1);
  const auto f2 = static_cast<int64_t>(static_cast<uint64_t>(f) * static_cast<uint64_t>(f));
  auto t = torch::tensor({f, f2}, torch::kInt64).to(device);
  comm.allreduce_sum(t, "start-up agreement check");
  t = t.cpu();
  const auto w = static_cast<uint64_t>(comm.world_size());
  const bool agree = static_cast<uint64_t>(t[0].item<int64_t>()) == w * static_cast<uint64_t>(f) &&
                     static_cast<uint64_t>(t[1].item<int64_t>()) == w * static_cast<uint64_t>(f2);
  RT_CHECK_USER(agree, "rank {}: the ranks do not agree on {}; {}", comm.rank(), what, fix);
}

std::vector<bool> any_rank_true(Communicator& comm, const std::vector<bool>& local, const torch::Device& device) {
  if (comm.world_size() == 1) return local;
  std::vector<int32_t> counts(local.begin(), local.end());
  auto t = torch::tensor(counts, torch::kInt32).to(device);
  comm.allreduce_sum(t, "allreduce of the step flags");
  t = t.cpu();
  std::vector<bool> any(local.size());
  for (size_t i = 0; i < any.size(); ++i) any[i] = t[static_cast<int64_t>(i)].item<int32_t>() > 0;
  return any;
}

std::vector<std::string> all_gather_strings(Communicator& comm, const std::string& mine, const torch::Device& device,
                                            const std::string& what) {
  const int world = comm.world_size(), rank = comm.rank();
  if (world == 1) return {mine};
  auto lengths = torch::zeros({world}, torch::kInt64);
  lengths[rank] = static_cast<int64_t>(mine.size());
  lengths = lengths.to(device);
  comm.allreduce_sum(lengths, "allreduce of the sizes for the " + what);
  lengths = lengths.cpu();
  const int64_t row = std::max<int64_t>(1, lengths.max().item<int64_t>());
  auto bytes = torch::zeros({world, row}, torch::kUInt8);  // [world, row]: rank r fills row r
  std::memcpy(bytes[rank].data_ptr(), mine.data(), mine.size());
  bytes = bytes.to(device);
  comm.allreduce_sum(bytes, "allreduce of the " + what);
  bytes = bytes.cpu().contiguous();
  std::vector<std::string> all(world);
  for (int r = 0; r < world; ++r) {
    const auto* p = bytes[r].data_ptr<uint8_t>();
    all[r].assign(reinterpret_cast<const char*>(p), static_cast<size_t>(lengths[r].item<int64_t>()));
  }
  return all;
}

std::unique_ptr<Communicator> make_single_process_communicator() { return std::make_unique<SingleProcess>(); }

}  // namespace rt
