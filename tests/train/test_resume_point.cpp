// The resume point (train/resume_point.h): each of its four cases, and the identities that
// decide between them.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "train/resume_point.h"

namespace rt {

namespace {

ResumeInputs inputs(const std::string& resume, const std::optional<std::string>& out_job, const std::string& job) {
  return ResumeInputs{resume, "runs/a", out_job, job};
}

std::string refusal(const ResumeInputs& in) {
  try {
    resume_dir(in);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST(ResumePoint, AFreshRunIntoAnEmptyFolderStartsFresh) {
  EXPECT_EQ(resume_dir(inputs("", std::nullopt, "j1")), "");
  EXPECT_EQ(resume_dir(inputs("", std::nullopt, "")), "");
}

TEST(ResumePoint, ResumeContinuesTheNamedFolder) {
  EXPECT_EQ(resume_dir(inputs("runs/old", std::nullopt, "j1")), "runs/old");
  // --out holds another job's checkpoints, but --resume says which run to continue.
  EXPECT_EQ(resume_dir(inputs("runs/old", std::string("j0"), "j1")), "runs/old");
}

TEST(ResumePoint, ARestartContinuesItsOwnJobsCheckpoints) {
  EXPECT_EQ(resume_dir(inputs("", std::string("j1"), "j1")), "runs/a");
  // ... even where the job began from another run's folder: its own checkpoints are newer.
  EXPECT_EQ(resume_dir(inputs("runs/old", std::string("j1"), "j1")), "runs/a");
}

TEST(ResumePoint, AnotherJobsCheckpointsAreRefused) {
  const std::string line = refusal(inputs("", std::string("j0"), "j1"));
  EXPECT_NE(line.find("--out runs/a already holds checkpoints of another job (j0)"), std::string::npos) << line;
  EXPECT_NE(line.find("--resume runs/a"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  // A checkpoint written before jobs were recorded belongs to no job.
  EXPECT_NE(refusal(inputs("", std::string(""), "j1")).find("of an earlier run"), std::string::npos);
}

TEST(ResumePoint, WithoutAnIdentityNothingContinuesOnItsOwn) {
  // Not even checkpoints that record no job either: an attempt cannot tell whose they are.
  const std::string line = refusal(inputs("", std::string(""), ""));
  EXPECT_NE(line.find("--rdzv-id"), std::string::npos) << line;
  EXPECT_NE(refusal(inputs("", std::string("j0"), "")), "(accepted)");
  EXPECT_EQ(resume_dir(inputs("runs/a", std::string("j0"), "")), "runs/a");  // --resume still does
}

// A checkpoint from the middle of an epoch continues only where the rest of that epoch is the
// samples it had left; at an epoch end anything may change.
TEST(ResumePoint, AMidEpochPositionNeedsTheSameCut) {
  const Position per_rank{5, 2, 0, 16, 1}, global{5, 2, 64, 16, 1};
  EXPECT_NO_THROW(check_resume_position("c", per_rank, {0, 2, 0, 16, 1}));
  EXPECT_NO_THROW(check_resume_position("c", global, {0, 4, 64, 8, 1}));            // any world, any micro-batch size
  EXPECT_NO_THROW(check_resume_position("c", {0, 2, 0, 16, 1}, {0, 3, 0, 32, 2}));  // an epoch end
  EXPECT_NO_THROW(check_resume_position("c", {5, 0, 0, 16, 1}, {0, 3, 0, 16, 1}));  // world not recorded
  const auto refusal = [](const Position& saved, const Position& here) -> std::string {
    try {
      check_resume_position("ckpt", saved, here);
    } catch (const UserError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(refusal(global, {0, 2, 32, 16, 1}).find("resume it with --global-batch 64"), std::string::npos);
  EXPECT_NE(refusal(per_rank, {0, 2, 64, 16, 1}).find("--global-batch 0"), std::string::npos);
  EXPECT_NE(refusal(per_rank, {0, 2, 0, 32, 1}).find("with --batch-size 16 --grad-accum 1"), std::string::npos);
  EXPECT_NE(refusal(per_rank, {0, 3, 0, 16, 1}).find("saved mid-epoch by 2 workers and this run has 3"),
            std::string::npos);
}

}  // namespace rt
