// `ringtrain report RUN_A RUN_B`: speedup and efficiency against the first run, computed by hand
// from the metrics.json files written here; unfinished and non-training folders are refused.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "core/files.h"
#include "report/compare.h"
#include "report/records.h"
#include "report/writers.h"
#include "test_util.h"

namespace rt {
namespace {

void write_run(const std::string& dir, int world, double images_per_second, double accuracy) {
  make_dirs(dir);
  RunMetrics m;  // what `train` writes (report/records.h)
  m.model = "resnet20";
  m.world_size = world;
  m.global_batch = 128;
  m.epochs = 2;
  m.total_seconds = 100.0 / world;
  m.train_images_per_second = images_per_second;
  m.test_accuracy = accuracy;
  m.best_test_accuracy = accuracy + 0.01;
  m.comm_last_epoch.exposed_comm_share = 0.125;
  m.environment = {{"scaled_lr", 0.1}, {"backend", world > 1 ? "gloo" : "none"}};
  write_json_file(dir + "/metrics.json", m);
}

TEST(Compare, SpeedupAndEfficiencyAgainstTheFirstRun) {
  test::TempDir tmp;
  write_run(tmp / "one", 1, 100.0, 0.5);
  write_run(tmp / "two", 2, 190.0, 0.49);
  write_run(tmp / "four", 4, 300.0, 0.48);
  const auto c = compare_runs({tmp / "one", tmp / "two", tmp / "four"});
  const auto& runs = c.at("runs");
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_DOUBLE_EQ(runs[0].at("speedup").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(runs[0].at("efficiency").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(runs[1].at("speedup").get<double>(), 1.9);
  EXPECT_DOUBLE_EQ(runs[1].at("efficiency").get<double>(), 0.95);
  EXPECT_DOUBLE_EQ(runs[2].at("speedup").get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(runs[2].at("efficiency").get<double>(), 0.75);
  EXPECT_EQ(runs[1].at("world_size"), 2);
  EXPECT_DOUBLE_EQ(runs[1].at("exposed_comm_share").get<double>(), 0.125);
  const std::string md = comparison_markdown(c);
  EXPECT_NE(md.find("| two | resnet20 | 2 | 128 | 0.1 | 2 | 50.0 s | 190.0 | 1.90x | 95% | 49.00% | 50.00% | 12.5% |"),
            std::string::npos)
      << md;
  // Against a 2-worker baseline, the 4-worker run's efficiency is speedup / 2.
  const auto c2 = compare_runs({tmp / "two", tmp / "four"});
  EXPECT_DOUBLE_EQ(c2.at("runs")[1].at("efficiency").get<double>(), (300.0 / 190.0) / 2);
}

TEST(Compare, UnfinishedOrForeignFoldersAreRefused) {
  test::TempDir tmp;
  write_run(tmp / "one", 1, 100.0, 0.5);
  make_dirs(tmp / "unfinished");
  make_dirs(tmp / "eval");
  write_json_file(tmp / "eval/metrics.json", {{"test_accuracy", 0.5}});
  EXPECT_THROW(compare_runs({tmp / "one", tmp / "unfinished"}), UserError);
  EXPECT_THROW(compare_runs({tmp / "one", tmp / "eval"}), UserError);
  EXPECT_THROW(compare_runs({tmp / "one", tmp / "missing"}), UserError);
}

}  // namespace
}  // namespace rt
