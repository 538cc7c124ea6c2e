// Training progress on the console (rank 0 only): on a terminal a live bar redrawn in place
// (img/s, loss, accuracy, ETA); otherwise plain lines every `every` steps.
#pragma once

#include <cstdint>
#include <string>

#include "core/timer.h"

namespace rt {

class Progress {
 public:
  Progress(bool enabled, bool tty, int64_t every);
  void begin_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  // After a step: running means over the epoch so far.
  void update(int64_t step, int64_t images, double mean_loss, double accuracy, double lr);
  // Whether a live bar is due for a redraw (at most 5 times a second): the loop then reads the
  // running means from the device, which it otherwise does only at progress lines.
  bool wants_redraw() const { return enabled_ && tty_ && clock_.seconds() - last_draw_ >= kRedrawSeconds; }
  static constexpr double kRedrawSeconds = 0.2;
  void end_epoch();

 private:
  bool enabled_, tty_;
  int64_t every_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0;
  Stopwatch clock_;
  double last_draw_ = -1;
};

std::string format_duration(double seconds);  // "1h02m03s", "4m05s", "12.3s"

}  // namespace rt
