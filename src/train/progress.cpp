#include "train/progress.h"

#include <fmt/format.h>

#include <cstdio>

#include "core/log.h"

namespace rt {

std::string format_duration(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto t = static_cast<int64_t>(s + 0.5);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m{:02}s", t / 3600, (t / 60) % 60, t % 60);
}

Progress::Progress(bool enabled, bool tty, int64_t every) : enabled_(enabled), tty_(tty), every_(every) {}

void Progress::begin_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch;
  epochs_ = epochs;
  steps_ = steps;
  clock_.reset();
  last_draw_ = -1;
}

void Progress::update(int64_t step, int64_t images, double mean_loss, double accuracy, double lr) {
  if (!enabled_) return;
  const double elapsed = clock_.seconds();
  const double rate = elapsed > 0 ? static_cast<double>(images) / elapsed : 0.0;
  const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(steps_ - step) : 0.0;
  const std::string stats =
      fmt::format("loss {:.4f} acc {:5.2f}% lr {:.4g} {:.0f} img/s", mean_loss, 100 * accuracy, lr, rate);
  if (tty_) {
    if (step != steps_ && elapsed - last_draw_ < kRedrawSeconds) return;
    last_draw_ = elapsed;
    constexpr int kWidth = 24;
    const auto filled = static_cast<int>(kWidth * step / std::max<int64_t>(steps_, 1));
    std::fprintf(stdout, "\r\033[Kepoch %lld/%lld [%s%s] %lld/%lld %s ETA %s", static_cast<long long>(epoch_ + 1),
                 static_cast<long long>(epochs_), std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), static_cast<long long>(step),
                 static_cast<long long>(steps_), stats.c_str(), format_duration(eta).c_str());
    std::fflush(stdout);
  } else if (step % every_ == 0 || step == steps_) {
    print_line(fmt::format("epoch {}/{} step {}/{} {} ETA {}", epoch_ + 1, epochs_, step, steps_, stats,
                           format_duration(eta)));
  }
}

void Progress::end_epoch() {
  if (enabled_ && tty_) {
    std::fputs("\n", stdout);
    std::fflush(stdout);
  }
}

}  // namespace rt
