#include "train/resume_point.h"

#include "core/errors.h"

namespace rt {

std::string resume_dir(const ResumeInputs& in) {
  if (in.out_job && !in.job.empty() && *in.out_job == in.job) return in.out;
  if (!in.resume.empty()) return in.resume;
  if (in.out_job) {
    const std::string whose = in.out_job->empty() ? "an earlier run" : "another job (" + *in.out_job + ")";
    throw UserError(fmt::format(
        "--out {} already holds checkpoints of {}: continue that run with --resume {}, or choose another --out{}",
        in.out, whose, in.out,
        in.job.empty() ? " (torchrun cannot tell its jobs apart here: give each job its own --rdzv-id)" : ""));
  }
  return "";
}

void check_resume_position(const std::string& file, const Position& saved, const Position& here) {
  if (saved.batch_in_epoch == 0) return;
  if (here.global_batch > 0 || saved.global_batch > 0) {
    RT_CHECK_USER(saved.global_batch == here.global_batch,
                  "{} was saved mid-epoch with --global-batch {}; resume it with --global-batch {} (on any number of "
                  "workers)",
                  file, saved.global_batch, saved.global_batch);
    return;
  }
  RT_CHECK_USER(saved.batch_size == here.batch_size && saved.grad_accum == here.grad_accum,
                "{} was saved mid-epoch with --batch-size {} --grad-accum {}: the rest of the epoch would not be the "
                "samples it had left; resume it with those, or change them at an epoch end",
                file, saved.batch_size, saved.grad_accum);
  RT_CHECK_USER(saved.world_size == 0 || saved.world_size == here.world_size,
                "{} was saved mid-epoch by {} workers and this run has {}: the rest of the epoch would not be the "
                "samples it had left; resume on {} workers, or train with --global-batch to resume on any number",
                file, saved.world_size, here.world_size, saved.world_size);
}

}  // namespace rt
