// Intervals of work on a device, measured where the work runs. On a GPU the host only queues
// kernels, so its clock says when work was queued, not when it ran: there an interval is a
// pair of timing events recorded on the current stream (recording never stalls the stream;
// reading waits for the end event only). On the CPU the work runs as the host calls it, and
// the host clock measures it.
#pragma once

#include <c10/core/Event.h>
#include <torch/torch.h>

#include <chrono>
#include <optional>

namespace rt {

// The current stream of `device` (CUDA: the thread's current stream of that GPU).
c10::Stream current_stream(const torch::Device& device);

class DeviceInterval {
 public:
  // Starts the interval now: on a GPU at this point of the current stream.
  explicit DeviceInterval(const torch::Device& device);
  // Ends it at this point (of the current stream on a GPU).
  void stop();
  // Its length; on a GPU waits until the end has run.
  double seconds() const;
  // Whether seconds() would not wait.
  bool ready() const { return on_host_ || end_->query(); }

 private:
  bool on_host_;
  std::optional<c10::Event> start_, end_;
  std::chrono::steady_clock::time_point t0_, t1_;
};

}  // namespace rt
