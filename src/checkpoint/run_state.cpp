#include "checkpoint/run_state.h"

#include <cmath>

#include "core/errors.h"
#include "core/json_input.h"

namespace rt {

void write_run_state(nlohmann::json& j, const RunState& s) {
  j["epochs_done"] = s.epochs_done;
  j["global_step"] = s.global_step;
  j["batch_in_epoch"] = s.batch_in_epoch;
  j["steps_in_epoch"] = s.steps_in_epoch;
  j["world_size"] = s.world_size;
  j["skipped_nonfinite_steps"] = s.skipped_nonfinite_steps;
  j["partial_epoch"] = {{"loss_x_images", s.partial.loss_x_images},
                        {"correct", s.partial.correct},
                        {"images", s.partial.images},
                        {"seconds", s.partial.seconds},
                        {"skipped_images", s.partial.skipped_images}};
}

RunState read_run_state(const nlohmann::json& j) {
  RunState s;
  s.epochs_done = j.at("epochs_done").get<int64_t>();
  s.global_step = j.at("global_step").get<int64_t>();
  s.batch_in_epoch = j.at("batch_in_epoch").get<int64_t>();
  s.steps_in_epoch = j.value("steps_in_epoch", int64_t{0});
  s.world_size = j.value("world_size", int64_t{0});
  s.skipped_nonfinite_steps = j.value("skipped_nonfinite_steps", int64_t{0});
  const auto& p = j.at("partial_epoch");
  if (p.is_array()) {  // before RunState: [loss x images, correct, images, seconds]
    s.partial = {p.at(0).get<double>(), p.at(1).get<double>(), p.at(2).get<double>(), p.at(3).get<double>(), 0};
  } else {
    s.partial = {json_number(p, "loss_x_images"), p.at("correct").get<double>(), p.at("images").get<double>(),
                 p.at("seconds").get<double>(), p.value("skipped_images", 0.0)};
  }
  // Counters out of range would index the data and the schedule out of bounds: a crafted file.
  constexpr int64_t kMaxCount = int64_t{1} << 48;
  for (const int64_t v :
       {s.epochs_done, s.global_step, s.batch_in_epoch, s.steps_in_epoch, s.skipped_nonfinite_steps}) {
    RT_CHECK_USER(v >= 0 && v < kMaxCount, "its training position holds {}, not a count", v);
  }
  RT_CHECK_USER(s.world_size >= 0 && s.world_size <= 65536, "its world size {} is not a number of workers",
                s.world_size);
  for (const double v : {s.partial.correct, s.partial.images, s.partial.seconds, s.partial.skipped_images}) {
    RT_CHECK_USER(std::isfinite(v) && v >= 0, "its partial epoch holds {}, not a non-negative sum", v);
  }
  // The loss sum may be NaN: an epoch whose non-finite steps were skipped (--skip-nonfinite).
  const double loss = s.partial.loss_x_images;
  RT_CHECK_USER(std::isnan(loss) || (std::isfinite(loss) && loss >= 0), "its partial epoch's loss sum is {}", loss);
  return s;
}

}  // namespace rt
