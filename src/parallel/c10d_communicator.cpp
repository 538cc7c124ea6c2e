// The c10d communicator: TCPStore rendezvous, then ProcessGroupGloo (CPU) or
// ProcessGroupNCCL (CUDA). Every collective has the job's timeout; failures become one line
// naming this rank, the operation and the cause, with exit code 3.
//
// Note [Waits and timeouts]: on Gloo a wait blocks the host until the collective is done or
// the timeout passes (then CommError). On NCCL a wait only makes the current CUDA stream wait
// for the collective, so the host never stalls and keeps queueing work ahead (c10d's
// wait(timeout) would instead poll the host every millisecond). The timeout is then a
// CollectiveMonitor's: it names the stalled rank and ends the process with exit code 3. c10d's
// own watchdog is set to clean up only (TORCH_NCCL_ASYNC_ERROR_HANDLING=2: abort the
// communicators on an NCCL error, without tearing the process down, so that the next wait
// throws a CommError), with a longer timeout than ours, so that it never aborts the process first.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "core/errors.h"
#include "core/log.h"
#include "parallel/collective_monitor.h"
#include "parallel/rendezvous.h"

namespace rt {

namespace {

// The first line of an error, without LibTorch's backtrace.
std::string first_line(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string msg = c10 ? c10->what_without_backtrace() : e.what();
  msg = msg.substr(0, msg.find('\n'));
  return msg.size() > 300 ? msg.substr(0, 300) + "..." : msg;
}

// Liveness of the ranks, for naming a stalled peer when a collective times out. Each rank
// bumps a counter key in the store from a background thread; a rank whose counter does not
// move is stopped, hung or dead. The thread uses its own store connection, so a blocked
// heartbeat never holds up training, and it is left detached (never joined) if the store
// stops answering.
class Heartbeat {
 public:
  Heartbeat(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world_size, std::chrono::milliseconds timeout)
      : state_(std::make_shared<State>()),
        world_size_(world_size),
        interval_(std::clamp(timeout / 10, std::chrono::milliseconds(100), std::chrono::milliseconds(2000))) {
    state_->store = store->clone();
    state_->key = key(rank);
    thread_ = std::thread([s = state_, interval = interval_] { s->run(interval); });
  }
  ~Heartbeat() {
    std::unique_lock lock(state_->mu);
    state_->stop = true;
    state_->cv.notify_all();
    const bool exited = state_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return state_->exited; });
    lock.unlock();
    if (exited)
      thread_.join();
    else
      thread_.detach();  // blocked on a store that no longer answers
  }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Which peers look dead: their counters are read twice, a few heartbeats apart. Runs on
  // a fresh connection with a deadline, as the store itself may be hosted by the stalled rank.
  std::string diagnose(const c10::intrusive_ptr<c10d::Store>& store, int self) const {
    auto probe =
        std::make_shared<std::packaged_task<std::vector<int>()>>([store, self, n = world_size_, wait = interval_ * 3] {
          auto conn = store->clone();
          auto read = [&] {
            std::vector<int64_t> v(n);
            for (int r = 0; r < n; ++r) v[r] = conn->add(key(r), 0);
            return v;
          };
          const auto before = read();
          std::this_thread::sleep_for(wait);
          const auto after = read();
          std::vector<int> silent;
          for (int r = 0; r < n; ++r)
            if (r != self && after[r] == before[r]) silent.push_back(r);
          return silent;
        });
    auto result = probe->get_future();
    std::thread([probe] {
      try {
        (*probe)();
      } catch (...) {
      }  // the exception reaches the future
    }).detach();
    if (result.wait_for(interval_ * 3 + std::chrono::seconds(3)) != std::future_status::ready) {
      return "the rendezvous store does not answer either: rank 0 (or the torchrun agent "
             "that hosts the store) is stopped, hung or dead";
    }
    std::vector<int> silent;
    try {
      silent = result.get();
    } catch (const std::exception&) {
      return "the rendezvous store cannot be reached: rank 0 (or the torchrun agent that "
             "hosts the store) has most likely died";
    }
    if (silent.empty())
      return "every peer's heartbeat is still advancing: a peer is alive but "
             "slower than the timeout (raise --timeout?)";
    std::vector<std::string> names;
    for (int r : silent) names.push_back(std::to_string(r));
    return fmt::format(
        "rank{} {} stopped responding (no heartbeat for {:.1f} s: stopped, hung "
        "or dead)",
        silent.size() > 1 ? "s" : "", fmt::join(names, ", "), std::chrono::duration<double>(interval_ * 3).count());
  }

 private:
  static std::string key(int rank) { return fmt::format("ringtrain/heartbeat/{}", rank); }

  struct State {
    c10::intrusive_ptr<c10d::Store> store;
    std::string key;
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false, exited = false;
    void run(std::chrono::milliseconds interval) {
      try {
        std::unique_lock lock(mu);
        while (!stop) {
          lock.unlock();
          store->add(key, 1);
          lock.lock();
          cv.wait_for(lock, interval, [&] { return stop; });
        }
      } catch (...) {
        // The store went away: the rank stops beating, which is what peers should see.
      }
      std::lock_guard lock(mu);
      exited = true;
      cv.notify_all();
    }
  };

  std::shared_ptr<State> state_;
  int world_size_;
  std::chrono::milliseconds interval_;
  std::thread thread_;
};

class C10dWork : public PendingWork {
 public:
  // `gpu`: the GPU of an NCCL work, whose completion shows in its CUDA end event (see
  // on_complete); none for Gloo.
  C10dWork(c10::intrusive_ptr<c10d::Work> work, std::string what, int rank, std::chrono::milliseconds timeout,
           std::function<std::string()> diagnose, std::optional<torch::Device> gpu)
      : work_(std::move(work)),
        what_(std::move(what)),
        rank_(rank),
        timeout_(timeout),
        diagnose_(std::move(diagnose)),
        gpu_(gpu) {}
  C10dWork(const C10dWork&) = delete;
  C10dWork& operator=(const C10dWork&) = delete;
  void wait() override {
    try {
      if (gpu_) {
        work_->wait();  // stream-ordered: Note [Waits and timeouts]
      } else {
        work_->wait(timeout_);
      }
    } catch (const std::exception& e) {
      throw CommError(fmt::format("rank {}: {} failed: {}; {} (timeout {} s)", rank_, what_, first_line(e), diagnose_(),
                                  timeout_.count() / 1000.0));
    }
  }
  void on_complete(std::function<void()> callback) override {
    if (!gpu_) {
      // Gloo: the Work's future completes (with a value or an error) when the collective ends.
      work_->getFuture()->addCallback([callback = std::move(callback)](c10::ivalue::Future&) { callback(); });
      return;
    }
    // NCCL: the future completes once the kernel is queued on the stream, not when it ends;
    // isCompleted() queries the work's CUDA end event, so a thread polls it (traced steps
    // only). It owns what it uses and is not joined: the host never waits for the GPU here.
    std::thread([work = work_, callback = std::move(callback), gpu = *gpu_,
                 deadline = std::chrono::steady_clock::now() + timeout_] {
      const c10::DeviceGuard guard(gpu);  // query the event on its own GPU, no stray context
      while (!work->isCompleted() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
      callback();
    }).detach();
  }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::string what_;
  int rank_;
  std::chrono::milliseconds timeout_;
  std::function<std::string()> diagnose_;
  std::optional<torch::Device> gpu_;
};

class C10dCommunicator : public Communicator {
 public:
  C10dCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::Backend> pg, std::string backend,
                   int rank, int world_size, std::chrono::milliseconds timeout, const torch::Device& device)
      : store_(std::move(store)),
        pg_(std::move(pg)),
        backend_(std::move(backend)),
        rank_(rank),
        world_size_(world_size),
        timeout_(timeout),
        device_(device),
        heartbeat_(std::make_unique<Heartbeat>(store_, rank, world_size, timeout)) {
    if (backend_ != "nccl") return;
    // Note [Waits and timeouts]: on NCCL the monitor is the timeout.
    monitor_ = std::make_unique<CollectiveMonitor>(
        timeout,
        [this](const std::string& what, const std::string& why) {
          print_error_line(fmt::format("ringtrain: error: rank {}: {} failed: {}; {} (timeout {} s)", rank_, what, why,
                                       heartbeat_->diagnose(store_, rank_), timeout_.count() / 1000.0));
          std::_Exit(kExitCommError);  // the main thread may be blocked on the GPU for ever
        },
        [device] { c10::impl::getDeviceGuardImpl(device.type())->setDevice(device); });
  }

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
    if (device_.is_cuda()) opts.device_ids = {device_.index()};  // NCCL would otherwise guess the GPU
    guarded(what, [&] { return pg_->barrier(opts); })->wait();
  }

 private:
  template <typename F>
  std::unique_ptr<PendingWork> guarded(const std::string& what, F launch) {
    try {
      auto work = launch();
      if (monitor_) {
        // isCompleted() is also true for a work that failed (its communicator was aborted):
        // its exception is the failure.
        monitor_->watch(what, [work] {
          if (!work->isCompleted()) return false;
          if (const auto error = work->exception()) std::rethrow_exception(error);
          return true;
        });
      }
      return std::make_unique<C10dWork>(
          work, what, rank_, timeout_, [this] { return heartbeat_->diagnose(store_, rank_); },
          monitor_ ? std::optional<torch::Device>(device_) : std::nullopt);
    } catch (const std::exception& e) {
      throw CommError(fmt::format("rank {}: {} failed to start: {}; {}", rank_, what, first_line(e),
                                  heartbeat_->diagnose(store_, rank_)));
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> pg_;
  std::string backend_;
  int rank_, world_size_;
  std::chrono::milliseconds timeout_;
  torch::Device device_;
  std::unique_ptr<Heartbeat> heartbeat_;
  std::unique_ptr<CollectiveMonitor> monitor_;  // NCCL only: Note [Waits and timeouts]
};

// Note [Waits and timeouts]: c10d's watchdog cleans up after an NCCL error without ending the
// process. A user's own TORCH_NCCL_ASYNC_ERROR_HANDLING or TORCH_NCCL_BLOCKING_WAIT is kept,
// with a warning of what it changes.
void configure_nccl_error_handling() {
  const char* handling = std::getenv("TORCH_NCCL_ASYNC_ERROR_HANDLING");
  if (!handling) {
    setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", /*overwrite=*/0);
  } else if (std::string(handling) != "2") {
    log_warn(
        "TORCH_NCCL_ASYNC_ERROR_HANDLING={} is kept: an NCCL error may then end the process with "
        "c10d's abort instead of ringtrain's one line and exit code 3 (unset it, or set 2)",
        handling);
  }
  const char* blocking = std::getenv("TORCH_NCCL_BLOCKING_WAIT");
  if (blocking && std::string(blocking) != "0") {
    log_warn(
        "TORCH_NCCL_BLOCKING_WAIT={} makes every NCCL wait block the host (the GPU cannot be fed "
        "ahead); unset it for speed",
        blocking);
  }
}

// Rank 0's listening socket for the store, bound to MASTER_ADDR only (never wider).
int bind_store_socket(const std::string& addr, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(addr.c_str(), std::to_string(port).c_str(), &hints, &res);
  RT_CHECK_USER(rc == 0, "MASTER_ADDR {}: cannot resolve ({}); set it to rank 0's address", addr, gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  RT_CHECK_USER(fd >= 0, "cannot create the store socket: {}", std::strerror(errno));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
    const int err = errno;
    close(fd);
    throw UserError(
        fmt::format("rank 0 cannot listen on MASTER_ADDR:MASTER_PORT {}:{}: {}; choose "
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
                                                const torch::Device& device, std::chrono::milliseconds timeout) {
  if (env.world_size == 1) return make_single_process_communicator();
  const std::string chosen = backend == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : backend;
  RT_CHECK_USER(chosen != "nccl" || device.is_cuda(), "--backend nccl needs --device cuda; use --backend gloo on CPU");
  RT_CHECK_USER(chosen != "gloo" || !device.is_cuda(),
                "--backend gloo reduces CPU tensors; with --device cuda use --backend nccl");
  if (chosen == "nccl") configure_nccl_error_handling();  // before the store starts its threads

  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = env.rank == 0 && !env.agent_store;
  opts.numWorkers = env.world_size;
  opts.timeout = timeout;
  if (opts.isServer) opts.masterListenFd = bind_store_socket(env.master_addr, env.master_port);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    // torchrun's agent store outlives a restart of the workers: each attempt has its own keys,
    // under the prefix PyTorch's env:// rendezvous uses, or a restarted job would read the
    // previous attempt's process-group and heartbeat keys.
    if (env.agent_store) {
      store = c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}", env.restart_count), store);
    }
  } catch (const std::exception& e) {
    throw CommError(fmt::format(
        "rank {}: rendezvous at {}:{} failed: {} (check MASTER_ADDR/MASTER_PORT "
        "and that all {} ranks start within the {} s timeout)",
        env.rank, env.master_addr, env.master_port, first_line(e), env.world_size, timeout.count() / 1000.0));
  }
  c10::intrusive_ptr<c10d::Backend> pg;
  try {
    if (chosen == "gloo") {
      auto gloo_opts = c10d::ProcessGroupGloo::Options::create();
      gloo_opts->timeout = timeout;
      gloo_opts->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForHostname(local_address_towards(env.master_addr, env.master_port)));
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, gloo_opts);
    } else {
#ifdef RT_WITH_NCCL
      // Note [Waits and timeouts]: c10d's watchdog after our monitor.
      auto nccl_opts = c10d::ProcessGroupNCCL::Options::create();
      nccl_opts->timeout = timeout * 2 + std::chrono::minutes(1);
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, nccl_opts);
#else
      throw UserError("this ringtrain was built without NCCL; use --backend gloo");
#endif
    }
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw CommError(fmt::format("rank {}: creating the {} process group failed: {}", env.rank, chosen, first_line(e)));
  }
  return std::make_unique<C10dCommunicator>(store, pg, chosen, env.rank, env.world_size, timeout, device);
}

}  // namespace rt
