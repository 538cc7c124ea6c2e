// Runs N ranks as threads in this process, each with its own Gloo process group over a
// TCPStore on 127.0.0.1 with a short timeout (STYLE.md, habit 11).
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "parallel/rendezvous.h"

namespace rt::test {

// Calls body(rank, comm) on `world` threads; rethrows the first exception of any rank.
void run_ranks(int world, const std::function<void(int, Communicator&)>& body);

}  // namespace rt::test
