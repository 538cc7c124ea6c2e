#include "train/schedule.h"

#include <cmath>

namespace rt {

namespace {

constexpr double kPi = 3.14159265358979323846;

// torch.optim.lr_scheduler.OneCycleLR._annealing_cos
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
}

double onecycle(const ScheduleSpec& s, int64_t step) {
  const double total = static_cast<double>(s.epochs * s.steps_per_epoch);
  const double initial = s.lr / 25.0, min_lr = initial / 1e4;
  const double up_end = 0.3 * total - 1.0, down_end = total - 1.0;
  const auto t = static_cast<double>(step);
  if (t <= up_end) return anneal_cos(initial, s.lr, up_end > 0 ? t / up_end : 1.0);
  return anneal_cos(s.lr, min_lr, (t - up_end) / (down_end - up_end));
}

// airbench94.py's triangle(steps, start, end, peak) at `step`.
double triangle(const ScheduleSpec& s, int64_t step) {
  const int64_t total = s.epochs * s.steps_per_epoch;
  const auto peak = static_cast<int64_t>(s.triangle_peak * static_cast<double>(total));  // int() truncates
  const auto t = static_cast<double>(step);
  if (step < peak) return s.lr * (s.triangle_start + (1.0 - s.triangle_start) * t / static_cast<double>(peak));
  if (total == peak) return s.lr * s.triangle_end;
  return s.lr * (1.0 + (s.triangle_end - 1.0) * (t - static_cast<double>(peak)) / static_cast<double>(total - peak));
}

}  // namespace

double lr_at_step(const ScheduleSpec& s, int64_t step) {
  if (s.kind == "onecycle") return onecycle(s, step);
  if (s.kind == "triangle") return triangle(s, step);
  const auto warmup_steps =
      static_cast<int64_t>(std::llround(s.warmup_epochs * static_cast<double>(s.steps_per_epoch)));
  if (step < warmup_steps) return s.lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (s.kind == "cosine") {
    const auto span = static_cast<double>(s.epochs * s.steps_per_epoch - warmup_steps);
    return 0.5 * s.lr * (1.0 + std::cos(kPi * static_cast<double>(step - warmup_steps) / span));
  }
  if (s.kind == "multistep") {
    const int64_t epoch = step / s.steps_per_epoch;
    double lr = s.lr;
    for (int64_t m : s.milestones) {
      if (epoch >= m) lr *= s.gamma;
    }
    return lr;
  }
  return s.lr;  // constant
}

double lr_at(const ScheduleSpec& s, int64_t epoch, int64_t step_in_epoch) {
  return lr_at_step(s, epoch * s.steps_per_epoch + step_in_epoch);
}

int64_t global_batch_size(int64_t batch_per_worker, int64_t world_size, int64_t grad_accum) {
  return batch_per_worker * world_size * grad_accum;
}

double scaled_learning_rate(double lr, int64_t global_batch, int64_t lr_ref_batch) {
  return lr * static_cast<double>(global_batch) / static_cast<double>(lr_ref_batch);
}

}  // namespace rt
