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

}  // namespace rt
