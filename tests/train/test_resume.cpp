// End to end through rt::train on a small synthetic data set: a run interrupted after one
// epoch and resumed ends with bitwise-identical weights to the uninterrupted run (CPU, same
// thread count), and writes every output file.
#include <gtest/gtest.h>

#include <filesystem>
#include <tuple>

#include "checkpoint/checkpoint.h"
#include "core/files.h"
#include "model/registry.h"
#include "report/writers.h"
#include "test_util.h"
#include "train/trainer.h"

namespace rt {

namespace {

Config small_run(const std::string& data, const std::string& out, int64_t epochs) {
  Config c;
  c.data = data;
  c.out = out;
  c.model = "resnet20";
  c.epochs = epochs;
  c.batch_size = 32;
  c.milestones = {2};  // the lr drops inside the resumed part
  c.threads = 1;
  c.seed = 17;
  c.device = "cpu";
  return c;
}

std::shared_ptr<Classifier> load_weights(const std::string& path) {
  CheckpointReader r(path, torch::kCPU);
  auto m = make_model(r.meta().model, r.meta().num_classes);
  r.load_model(*m);
  return m;
}

// Every parameter and buffer of the checkpoints `full` and `part` bitwise equal.
void expect_same_weights(const std::string& full, const std::string& part, const std::string& what) {
  const auto a = load_weights(full), b = load_weights(part);
  auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()]))
        << what << ": " << p.key() << " max diff " << (p.value() - pb[p.key()]).abs().max().item<double>();
  }
  auto bb = b->named_buffers();
  for (const auto& p : a->named_buffers()) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << what << ": " << p.key();
}

}  // namespace

TEST(Resume, ResumedRunMatchesUninterruptedRunBitwise) {
  test::TempDir dir;
  make_dirs(dir / "data");
  test::write_synthetic_cifar_binary(dir / "data", 40, 50);  // 200 train, 50 test

  const RunSummary full = train(small_run(dir / "data", dir / "full", 3));
  train(small_run(dir / "data", dir / "part", 1));
  Config resume = small_run(dir / "data", dir / "part", 3);
  resume.resume = dir / "part";
  const RunSummary resumed = train(resume);

  expect_same_weights(dir / "full/checkpoint.safetensors", dir / "part/checkpoint.safetensors", "resumed");
  EXPECT_EQ(full.test_accuracy, resumed.test_accuracy);

  for (const char* f : {"config.json", "history.json", "metrics.json", "classification_report.txt",
                        "confusion_matrix.csv", "checkpoint.safetensors"}) {
    EXPECT_TRUE(file_exists(dir / (std::string("part/") + f))) << f;
  }
  const auto history = read_json_file(dir / "part/history.json");
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[2]["epoch"], 3);
  // --lr 0.1 is for a global batch of 128: batch 32 trains at 0.025, x0.1 after milestone 2.
  EXPECT_NEAR(history[2]["lr"].get<double>(), 0.1 * 32 / 128 * 0.1, 1e-12);
  const auto full_history = read_json_file(dir / "full/history.json");
  for (size_t e = 0; e < 3; ++e) {
    for (const char* key : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr"}) {
      EXPECT_EQ(history[e][key], full_history[e][key]) << "epoch " << e + 1 << " " << key;
    }
  }
  const auto metrics = read_json_file(dir / "part/metrics.json");
  EXPECT_EQ(metrics["epochs"], 3);
  EXPECT_EQ(metrics["test"]["total"], 50);
  EXPECT_EQ(metrics["param_count"], 269722);
}

TEST(Resume, FromAMidEpochCheckpointMatchesUninterruptedRunBitwise) {
  test::TempDir dir;
  make_dirs(dir / "data");
  test::write_synthetic_cifar_binary(dir / "data", 40, 50);  // 200 train images: 7 steps of 32
  Config full = small_run(dir / "data", dir / "full", 2);
  full.checkpoint_every = 2;
  full.keep_checkpoints = 100;
  train(full);
  // Saved newest first: end of epoch 2 (step 14), steps 12, 10, 8, end of epoch 1 (7), 6, 4, 2.
  const auto files = checkpoint_files(dir / "full");
  ASSERT_EQ(files.size(), 8u);
  for (const auto& [index, step, batch] : std::vector<std::tuple<size_t, int64_t, int64_t>>{{2, 10, 3}, {5, 6, 6}}) {
    const std::string part = dir / ("part" + std::to_string(step));
    make_dirs(part);
    std::filesystem::copy_file(files[index], part + "/checkpoint.safetensors");
    {
      CheckpointReader r(part + "/checkpoint.safetensors", torch::kCPU);
      EXPECT_EQ(r.meta().state.global_step, step);
      EXPECT_EQ(r.meta().state.batch_in_epoch, batch);
    }
    Config resume = small_run(dir / "data", part, 2);
    resume.resume = part;
    train(resume);
    expect_same_weights(dir / "full/checkpoint.safetensors", part + "/checkpoint.safetensors",
                        "resumed at step " + std::to_string(step));
    const auto h_full = read_json_file(dir / "full/history.json"), h_part = read_json_file(part + "/history.json");
    ASSERT_EQ(h_part.size(), 2u);
    for (size_t e = 0; e < 2; ++e) {
      for (const char* key : {"train_loss", "train_accuracy", "test_loss", "test_accuracy"}) {
        EXPECT_EQ(h_part[e][key], h_full[e][key]) << "resumed at step " << step << " epoch " << e + 1 << " " << key;
      }
    }
  }
}

// Issue 22: the airbench94 network and recipe's training ideas, all at once, resumed from the
// middle of each epoch (before and after the whitening bias stops learning): the weight
// average (--ema-every), the triangular schedule, the BatchNorm biases' own learning rate, the
// alternating flip and reflect-padded shifts all continue exactly.
TEST(Resume, TheAirbenchIdeasResumeFromAMidEpochCheckpointBitwise) {
  test::TempDir dir;
  make_dirs(dir / "data");
  test::write_synthetic_cifar_binary(dir / "data", 40, 50);  // 200 train images: 7 steps of 32
  auto airbench_run = [&](const std::string& out) {
    Config c = small_run(dir / "data", out, 2);
    c.model = "airbench94";
    c.ema_every = 2;
    c.schedule = "triangle";
    c.bn_bias_lr_mult = 64;
    c.whiten_bias_epochs = 1;
    c.translate = 2;
    c.pad_mode = "reflect";
    c.flip = "alternate";
    c.label_smoothing = 0.2;
    c.momentum = 0.85;
    c.nesterov = true;
    c.lr = 0.2;
    c.weight_decay = 5e-3;
    return c;
  };
  Config full = airbench_run(dir / "full");
  full.checkpoint_every = 3;
  full.keep_checkpoints = 100;
  train(full);
  // Newest first: end of epoch 2 (step 14), steps 12, 9, end of epoch 1 (7), 6, 3.
  const auto files = checkpoint_files(dir / "full");
  ASSERT_EQ(files.size(), 6u);
  for (const auto& [index, step] : std::vector<std::pair<size_t, int64_t>>{{2, 9}, {5, 3}}) {
    const std::string part = dir / ("part" + std::to_string(step));
    make_dirs(part);
    std::filesystem::copy_file(files[index], part + "/checkpoint.safetensors");
    {
      CheckpointReader r(part + "/checkpoint.safetensors", torch::kCPU);
      EXPECT_EQ(r.meta().state.global_step, step);
      EXPECT_FALSE(r.meta().lookahead.empty());
    }
    Config resume = airbench_run(part);
    resume.resume = part;
    train(resume);
    expect_same_weights(dir / "full/checkpoint.safetensors", part + "/checkpoint.safetensors",
                        "resumed at step " + std::to_string(step));
  }
}

}  // namespace rt
