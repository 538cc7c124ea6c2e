// The c10d communicator: TCPStore rendezvous, then ProcessGroupGloo (CPU) or
// ProcessGroupNCCL (CUDA). Every wait has the job's timeout; failures become one CommError
// line naming this rank, the operation and the cause.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cerrno>
#include <cstring>

#include "core/errors.h"
#include "dist/rendezvous.h"

namespace rt {

namespace {

// The first line of an error, without LibTorch's backtrace.
std::string first_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string msg = c10 ? c10->what_without_backtrace() : e.what();
  msg = msg.substr(0, msg.find('\n'));
  return msg.size() > 300 ? msg.substr(0, 300) + "..." : msg;
}

class C10dWork : public PendingWork {
 public:
  C10dWork(c10::intrusive_ptr<c10d::Work> work, std::string what, int rank,
           std::chrono::milliseconds timeout)
      : work_(std::move(work)), what_(std::move(what)), rank_(rank), timeout_(timeout) {}
  void wait() override {
    try {
      work_->wait(timeout_);
    } catch (const std::exception& e) {
      throw CommError(fmt::format("rank {}: {} failed: {} (a peer died, stalled past the {} s "
                                  "timeout, or is unreachable)",
                                  rank_, what_, first_line(e), timeout_.count() / 1000.0));
    }
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::string what_;
  int rank_;
  std::chrono::milliseconds timeout_;
};

class C10dCommunicator : public Communicator {
 public:
  C10dCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::Backend> pg,
                   std::string backend, int rank, int world_size, std::chrono::milliseconds timeout)
      : store_(std::move(store)), pg_(std::move(pg)), backend_(std::move(backend)), rank_(rank),
        world_size_(world_size), timeout_(timeout) {}

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend() const override { return backend_; }

  std::unique_ptr<PendingWork> allreduce_sum_async(torch::Tensor& t, const std::string& what) override {
    std::vector<at::Tensor> tensors = {t};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    opts.timeout = timeout_;
    return guarded(what, [&] { return pg_->allreduce(tensors, opts); });
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what) override {
    // One collective per dtype: the tensors are packed into a flat buffer and unpacked.
    torch::NoGradGuard no_grad;  // parameters are written in place
    std::map<c10::ScalarType, std::vector<torch::Tensor*>> by_type;
    for (auto& t : tensors) by_type[t.scalar_type()].push_back(&t);
    for (auto& [type, group] : by_type) {
      std::vector<torch::Tensor> flat_parts;
      for (auto* t : group) flat_parts.push_back(t->reshape(-1));
      std::vector<at::Tensor> flat = {torch::cat(flat_parts)};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = timeout_;
      guarded(what, [&] { return pg_->broadcast(flat, opts); })->wait();
      int64_t offset = 0;
      for (auto* t : group) {
        t->copy_(flat[0].narrow(0, offset, t->numel()).view_as(*t));
        offset += t->numel();
      }
    }
  }

  void barrier(const std::string& what) override {
    c10d::BarrierOptions opts;
    opts.timeout = timeout_;
    guarded(what, [&] { return pg_->barrier(opts); })->wait();
  }

 private:
  template <typename F>
  std::unique_ptr<PendingWork> guarded(const std::string& what, F launch) {
    try {
      return std::make_unique<C10dWork>(launch(), what, rank_, timeout_);
    } catch (const std::exception& e) {
      throw CommError(fmt::format("rank {}: {} failed to start: {}", rank_, what, first_line(e)));
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> pg_;
  std::string backend_;
  int rank_, world_size_;
  std::chrono::milliseconds timeout_;
};

// Rank 0's listening socket for the store, bound to MASTER_ADDR only (never wider).
int bind_store_socket(const std::string& addr, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(addr.c_str(), std::to_string(port).c_str(), &hints, &res);
  RT_CHECK_USER(rc == 0, "MASTER_ADDR {}: cannot resolve ({}); set it to rank 0's address", addr,
                gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  RT_CHECK_USER(fd >= 0, "cannot create the store socket: {}", std::strerror(errno));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
    const int err = errno;
    close(fd);
    throw UserError(fmt::format("rank 0 cannot listen on MASTER_ADDR:MASTER_PORT {}:{}: {}; choose "
                                "a free MASTER_PORT or an address of this host",
                                addr, port, std::strerror(err)));
  }
  return fd;
}

// This host's address on the route to `peer` (no packet is sent): Gloo listens there.
std::string local_address_towards(const std::string& peer, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(peer.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return "127.0.0.1";
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
  const int fd = socket(res->ai_family, SOCK_DGRAM, 0);
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  char host[NI_MAXHOST] = "127.0.0.1";
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
    getnameinfo(reinterpret_cast<sockaddr*>(&local), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
  }
  if (fd >= 0) close(fd);
  return host;
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(const DistEnv& env, const std::string& backend,
                                                const torch::Device& device,
                                                std::chrono::milliseconds timeout) {
  if (env.world_size == 1) return make_single_process_communicator();
  const std::string chosen = backend == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : backend;
  RT_CHECK_USER(chosen != "nccl" || device.is_cuda(), "--backend nccl needs --device cuda; use --backend gloo on CPU");
  RT_CHECK_USER(chosen != "gloo" || !device.is_cuda(), "--backend gloo reduces CPU tensors; with --device cuda use --backend nccl");

  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = env.rank == 0 && !env.agent_store;
  opts.numWorkers = env.world_size;
  opts.timeout = timeout;
  if (opts.isServer) opts.masterListenFd = bind_store_socket(env.master_addr, env.master_port);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  } catch (const std::exception& e) {
    throw CommError(fmt::format("rank {}: rendezvous at {}:{} failed: {} (check MASTER_ADDR/MASTER_PORT "
                                "and that all {} ranks start within the {} s timeout)",
                                env.rank, env.master_addr, env.master_port, first_line(e),
                                env.world_size, timeout.count() / 1000.0));
  }
  c10::intrusive_ptr<c10d::Backend> pg;
  try {
    if (chosen == "gloo") {
      auto gloo_opts = c10d::ProcessGroupGloo::Options::create();
      gloo_opts->timeout = timeout;
      gloo_opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(
          local_address_towards(env.master_addr, env.master_port)));
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, gloo_opts);
    } else {
#ifdef RT_WITH_NCCL
      auto nccl_opts = c10d::ProcessGroupNCCL::Options::create();
      nccl_opts->timeout = timeout;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, nccl_opts);
#else
      throw UserError("this ringtrain was built without NCCL; use --backend gloo");
#endif
    }
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw CommError(fmt::format("rank {}: creating the {} process group failed: {}", env.rank,
                                chosen, first_line(e)));
  }
  return std::make_unique<C10dCommunicator>(store, pg, chosen, env.rank, env.world_size, timeout);
}

}  // namespace rt
