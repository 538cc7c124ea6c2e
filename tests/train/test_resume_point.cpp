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

}  // namespace rt
