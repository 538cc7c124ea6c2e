#include "train/resumed_run.h"

#include "core/errors.h"
#include "train/resume_point.h"

namespace rt {

ResumedRun resume_run(CheckpointReader& reader, Classifier& model, FusedSgd& optimizer, const Config& cfg,
                      int64_t world) {
  reader.load_model(model);
  reader.load_optimizer(optimizer, model);
  reader.restore_rng();
  const CheckpointMeta& meta = reader.meta();
  ResumedRun r{reader.path(), reader.checksum(), meta.state, meta.history, meta.grad_compression, meta.lookahead};
  RT_CHECK_USER(r.state.epochs_done <= cfg.epochs, "{} has already trained {} epochs, more than --epochs {}", r.file,
                r.state.epochs_done, cfg.epochs);
  const nlohmann::json& saved = meta.config;
  check_resume_position(r.file,
                        {r.state.batch_in_epoch, r.state.world_size, saved.value("global_batch", int64_t{0}),
                         saved.value("batch_size", cfg.batch_size), saved.value("grad_accum", cfg.grad_accum)},
                        {0, world, cfg.global_batch, cfg.batch_size, cfg.grad_accum});
  return r;
}

}  // namespace rt
