#include "device/device_timer.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>

namespace rt {

c10::Stream current_stream(const torch::Device& device) {
  return c10::impl::getDeviceGuardImpl(device.type())->getStream(device);
}

DeviceInterval::DeviceInterval(const torch::Device& device) : on_host_(device.is_cpu()) {
  if (on_host_) {
    t0_ = t1_ = std::chrono::steady_clock::now();
    return;
  }
  // BACKEND_DEFAULT: events with timing (PYTORCH_DEFAULT disables it).
  start_.emplace(device.type(), c10::EventFlag::BACKEND_DEFAULT);
  end_.emplace(device.type(), c10::EventFlag::BACKEND_DEFAULT);
  start_->record(current_stream(device));
}

void DeviceInterval::stop() {
  if (on_host_) {
    t1_ = std::chrono::steady_clock::now();
    return;
  }
  end_->record(current_stream(torch::Device(start_->device_type(), start_->device_index())));
}

double DeviceInterval::seconds() const {
  if (on_host_) return std::chrono::duration<double>(t1_ - t0_).count();
  end_->synchronize();
  return start_->elapsedTime(*end_) / 1000.0;  // milliseconds
}

}  // namespace rt
