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
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <random>
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

// Liveness and progress of the ranks, for naming a stalled peer when a collective times out.
// Each rank bumps a counter key in the store from a background thread, and publishes beside it
// how many collectives it has started; a rank whose counter does not move is stopped, hung or
// dead, and a live rank that has started fewer collectives than this one never reached the one
// that timed out (slow or stuck in its own work: data loading, a deadlock, another code path).
// The thread uses its own store connection, so a blocked heartbeat never holds up training, and
// it is left detached (never joined) if the store stops answering.
class Heartbeat {
 public:
  Heartbeat(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world_size, std::chrono::milliseconds timeout)
      : state_(std::make_shared<State>()),
        world_size_(world_size),
        interval_(std::clamp(timeout / 10, std::chrono::milliseconds(100), std::chrono::milliseconds(2000))) {
    state_->store = store->clone();
    state_->key = key(rank);
    state_->progress_key = progress_key(rank);
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

  // This rank starts a collective (the next beat publishes the count).
  void started_collective() { ++state_->collectives; }

  // Which peers look dead: their counters are read twice, a few heartbeats apart. Runs on
  // a fresh connection with a deadline, as the store itself may be hosted by the stalled rank.
  std::string diagnose(const c10::intrusive_ptr<c10d::Store>& store, int self) const {
    auto task = std::make_shared<std::packaged_task<Probe()>>([store, self, n = world_size_, wait = interval_ * 3] {
      auto conn = store->clone();
      auto read = [&](auto name) {
        std::vector<int64_t> v(n);
        for (int r = 0; r < n; ++r) v[r] = conn->add(name(r), 0);
        return v;
      };
      const auto before = read(key);
      std::this_thread::sleep_for(wait);
      const auto after = read(key);
      Probe probe;
      probe.started = read(progress_key);  // published at least one beat ago
      for (int r = 0; r < n; ++r) {
        if (r != self && after[r] == before[r]) probe.silent.push_back(r);
        if (r != self && after[r] != before[r] && probe.started[r] < probe.started[self]) probe.behind.push_back(r);
      }
      return probe;
    });
    auto result = task->get_future();
    std::thread([task] {
      try {
        (*task)();
      } catch (...) {
      }  // the exception reaches the future
    }).detach();
    if (result.wait_for(interval_ * 3 + std::chrono::seconds(3)) != std::future_status::ready) {
      return "the rendezvous store does not answer either: rank 0 (or the torchrun agent "
             "that hosts the store) is stopped, hung or dead";
    }
    Probe probe;
    try {
      probe = result.get();
    } catch (const std::exception&) {
      return "the rendezvous store cannot be reached: rank 0 (or the torchrun agent that "
             "hosts the store) has most likely died";
    }
    const std::vector<int>& silent = probe.silent;
    if (silent.empty() && !probe.behind.empty()) {  // alive, but not here
      std::vector<std::string> counts;
      for (int r : probe.behind) counts.push_back(fmt::format("rank {}: {}", r, probe.started[static_cast<size_t>(r)]));
      const bool many = probe.behind.size() > 1;
      return fmt::format(
          "rank{} {} {} alive but {} not reached this collective (collectives started: {}, this rank: {}): slow or "
          "stuck in {} own work (data loading, a deadlock) or on another code path",
          many ? "s" : "", fmt::join(probe.behind, ", "), many ? "are" : "is", many ? "have" : "has",
          fmt::join(counts, ", "), probe.started[static_cast<size_t>(self)], many ? "their" : "its");
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
  struct Probe {
    std::vector<int> silent;       // ranks whose heartbeat stopped
    std::vector<int> behind;       // ranks alive that started fewer collectives than this one
    std::vector<int64_t> started;  // collectives each rank has started
  };
  static std::string key(int rank) { return fmt::format("ringtrain/heartbeat/{}", rank); }
  static std::string progress_key(int rank) { return fmt::format("ringtrain/collectives/{}", rank); }

  struct State {
    c10::intrusive_ptr<c10d::Store> store;
    std::string key, progress_key;
    std::atomic<int64_t> collectives{0};  // started by this rank
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false, exited = false;
    void run(std::chrono::milliseconds interval) {
      try {
        std::unique_lock lock(mu);
        int64_t published = 0;
        while (!stop) {
          lock.unlock();
          const int64_t started = collectives.load();
          if (started != published) store->add(progress_key, started - published);
          published = started;
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

  void confirm(const std::string& what) override {
    if (!monitor_) return barrier(what);  // Gloo: the host waited for every collective, and waits for this one
    // NCCL: a barrier, which the communicator runs after every collective started before it,
    // waited for on the host. It ends without error only if they all did; after an NCCL error
    // it fails once c10d's watchdog has aborted the communicator, or runs past the timeout.
    c10d::BarrierOptions opts;
    opts.timeout = timeout_;
    opts.device_ids = {device_.index()};
    c10::intrusive_ptr<c10d::Work> work;
    heartbeat_->started_collective();
    try {
      work = pg_->barrier(opts);
      const auto deadline = std::chrono::steady_clock::now() + timeout_;
      while (!work->isCompleted()) {
        if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("it did not end within the timeout");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (const auto error = work->exception()) std::rethrow_exception(error);
    } catch (const std::exception& e) {
      throw CommError(fmt::format("rank {}: {} failed: {}; {} (timeout {} s)", rank_, what, first_line(e),
                                  heartbeat_->diagnose(store_, rank_), timeout_.count() / 1000.0));
    }
  }

 private:
  template <typename F>
  std::unique_ptr<PendingWork> guarded(const std::string& what, F launch) {
    heartbeat_->started_collective();
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

// Whether something listens on host:port: a plain TCP connect, given up after `wait` (c10d's
// client would retry an address that is gone until its timeout, logging every try).
bool listening(const std::string& host, int port, std::chrono::milliseconds wait) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return false;
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
  const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, res->ai_addr, res->ai_addrlen) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    ok = poll(&p, 1, static_cast<int>(wait.count())) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
         err == 0;
  }
  close(fd);
  return ok;
}

// A client of torchrun's agent store (MASTER_ADDR:MASTER_PORT under TORCHELASTIC_USE_AGENT_STORE).
c10::intrusive_ptr<c10d::TCPStore> agent_store(const DistEnv& env, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
}

// Note [A store for each round]: torchrun's agent serves one TCPStore for the whole job
// (TORCHELASTIC_USE_AGENT_STORE=True, the default), and its keys outlive every attempt. The
// workers of one round must not read an earlier round's process-group and heartbeat keys,
// and no count that every worker of a round sees alike tells rounds apart: the restart count
// is each agent's own (a restarted node's workers count 1, the others still 0, and a node that
// rejoins starts again at 0). So each round's rank 0 serves a store of its own, on a free port,
// and leaves its address in the agent's store; the other ranks read it there and connect. An
// address left by an earlier round names a store that is gone (the agents stop every worker
// before the next round starts): a rank that cannot reach it within a few seconds reads the
// key again, until the job's timeout.
c10::intrusive_ptr<c10d::Store> round_store(const DistEnv& env, std::chrono::milliseconds timeout) {
  constexpr const char* kKey = "ringtrain/round_store";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto agent = agent_store(env, timeout);
  c10d::TCPStoreOptions opts;
  opts.numWorkers = env.world_size;
  if (env.rank == 0) {
    const std::string host = local_address_towards(env.master_addr, env.master_port);
    const int fd = bind_store_socket(host, 0);
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    opts.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    opts.isServer = true;
    opts.masterListenFd = fd;
    opts.waitWorkers = false;  // they learn the address below
    opts.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(host, opts);
    const std::string address = fmt::format("{}:{}", host, opts.port);
    agent->set(kKey, std::vector<uint8_t>(address.begin(), address.end()));
    return store;
  }
  std::string last_error;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("no store of this round reached: " + last_error);
    agent->setTimeout(left);
    const auto value = agent->get(kKey);
    const std::string address(value.begin(), value.end());
    const size_t colon = address.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("malformed " + std::string(kKey) + ": " + address);
    const std::string host = address.substr(0, colon);
    opts.port = static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
    opts.timeout = std::min(left, std::chrono::milliseconds(5000));
    if (listening(host, opts.port, std::min(left, std::chrono::milliseconds(2000)))) {
      try {
        auto store = c10::make_intrusive<c10d::TCPStore>(host, opts);
        store->setTimeout(timeout);
        return store;
      } catch (const std::exception& e) {
        last_error = address + ": " + first_line(e);
      }
    } else {
      last_error = address + " does not answer";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // an earlier round's store: read the key again
  }
}

}  // namespace

std::string new_job_identity() {
  std::random_device random;
  const uint64_t id = (static_cast<uint64_t>(random()) << 32) ^ random();
  return fmt::format("{:016x}", id);
}

std::string job_identity(const DistEnv& env, std::chrono::milliseconds timeout) {
  if (!env.job_id.empty()) return env.job_id;
  if (env.launcher != "torchrun") return new_job_identity();
  if (!env.agent_store) return env.run_id.empty() || env.run_id == "none" ? "" : "torchrun:" + env.run_id;
  try {
    const std::string mine = "torchrun:" + new_job_identity();
    // The first worker of the job sets it; every other one, in any attempt, reads that one.
    const auto id = agent_store(env, timeout)
                        ->compareSet("ringtrain/job_identity", {}, std::vector<uint8_t>(mine.begin(), mine.end()));
    return std::string(id.begin(), id.end());
  } catch (const std::exception& e) {
    throw CommError(fmt::format("rank {}: torchrun's store at {}:{} cannot be reached: {}", env.rank, env.master_addr,
                                env.master_port, first_line(e)));
  }
}

std::unique_ptr<Communicator> make_communicator(const DistEnv& env, const std::string& backend,
                                                const torch::Device& device, std::chrono::milliseconds timeout) {
  if (env.world_size == 1) return make_single_process_communicator();
  const std::string chosen = backend == "auto" ? (device.is_cuda() ? "nccl" : "gloo") : backend;
  RT_CHECK_USER(chosen != "nccl" || device.is_cuda(), "--backend nccl needs --device cuda; use --backend gloo on CPU");
  RT_CHECK_USER(chosen != "gloo" || !device.is_cuda(),
                "--backend gloo reduces CPU tensors; with --device cuda use --backend nccl");
  if (chosen == "nccl") configure_nccl_error_handling();  // before the store starts its threads

  c10::intrusive_ptr<c10d::Store> store;
  try {
    if (env.agent_store) {
      store = round_store(env, timeout);
    } else {
      c10d::TCPStoreOptions opts;
      opts.port = static_cast<uint16_t>(env.master_port);
      opts.isServer = env.rank == 0;
      opts.numWorkers = env.world_size;
      opts.timeout = timeout;
      if (opts.isServer) opts.masterListenFd = bind_store_socket(env.master_addr, env.master_port);
      store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    }
  } catch (const UserError&) {
    throw;
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
