#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "model/registry.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

namespace rt {

namespace {

// One SGD step on a fixed batch.
void sgd_step(Classifier& model, torch::optim::Optimizer& opt) {
  torch::manual_seed(123);
  const auto x = torch::randn({4, 3, 32, 32});
  const auto y = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  opt.zero_grad();
  torch::nn::functional::cross_entropy(model.forward(x), y).backward();
  opt.step();
}

CheckpointMeta meta_for(const Classifier& m) {
  CheckpointMeta meta;
  meta.model = m.arch();
  meta.num_classes = m.num_classes();
  meta.param_count = count_parameters(m);
  meta.state.epochs_done = 3;
  meta.state.global_step = 99;
  meta.state.partial = {1.5, 2, 3, 4.25};
  meta.config = {{"model", m.arch()}};
  meta.history = {EpochRecord{}};
  meta.history[0].epoch = 1;
  meta.class_names = {"a", "b"};
  return meta;
}

}  // namespace

TEST(Checkpoint, RoundTripRestoresWeightsMomentumAndPosition) {
  test::TempDir dir;
  Config cfg;
  auto a = make_model("resnet20", 10);
  auto opt_a = make_sgd(*a, cfg);
  sgd_step(*a, *opt_a);  // creates momentum buffers
  save_checkpoint(dir / "c.pt", *a, *opt_a, meta_for(*a));

  auto b = make_model("resnet20", 10);
  auto opt_b = make_sgd(*b, cfg);
  CheckpointReader reader(dir / "c.pt", torch::kCPU);
  reader.load_model(*b);
  reader.load_optimizer(*opt_b);
  EXPECT_EQ(reader.meta().state.epochs_done, 3);
  EXPECT_EQ(reader.meta().state.global_step, 99);
  EXPECT_EQ(reader.meta().state.partial.loss_x_images, 1.5);
  EXPECT_EQ(reader.meta().state.partial.seconds, 4.25);
  EXPECT_EQ(reader.meta().history.size(), 1u);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto ba = a->named_buffers(), bb = b->named_buffers();
  for (const auto& p : ba) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key();
  // With momentum restored, the next step is identical too.
  sgd_step(*a, *opt_a);
  sgd_step(*b, *opt_b);
  for (const auto& p : a->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

TEST(Checkpoint, TruncatedOrForeignFileIsRefused) {
  test::TempDir dir;
  Config cfg;
  auto m = make_model("resnet20", 10);
  auto opt = make_sgd(*m, cfg);
  save_checkpoint(dir / "c.pt", *m, *opt, meta_for(*m));
  std::filesystem::copy_file(dir / "c.pt", dir / "t.pt");
  std::filesystem::resize_file(dir / "t.pt", std::filesystem::file_size(dir / "c.pt") / 2);
  EXPECT_THROW(CheckpointReader(dir / "t.pt", torch::kCPU), UserError);
  test::write_bytes(dir / "f.pt", "{\"not\": \"a checkpoint\"}");
  EXPECT_THROW(CheckpointReader(dir / "f.pt", torch::kCPU), UserError);
  EXPECT_THROW(CheckpointReader(dir / "missing.pt", torch::kCPU), UserError);
}

TEST(Checkpoint, ChecksumCatchesAFlippedByteAndRotationKeepsK) {
  test::TempDir dir;
  Config cfg;
  auto m = make_model("resnet20", 10);
  auto opt = make_sgd(*m, cfg);
  CheckpointMeta meta = meta_for(*m);
  for (int64_t step = 1; step <= 4; ++step) {
    meta.state.global_step = step;
    save_checkpoint_rotating(dir.path(), /*keep=*/3, *m, *opt, meta);
  }
  const auto files = checkpoint_files(dir.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.3.pt"));
  EXPECT_EQ(CheckpointReader(files[0], torch::kCPU).meta().state.global_step, 4);
  EXPECT_EQ(CheckpointReader(files[2], torch::kCPU).meta().state.global_step, 2);
  // One flipped byte in the middle of the newest: refused by its checksum; the next is used.
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(std::filesystem::file_size(files[0]) / 2));
    const char c = static_cast<char>(f.peek());
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(files[0]) / 2));
    f.put(static_cast<char>(c ^ 0x20));
  }
  try {
    CheckpointReader r(files[0], torch::kCPU);
    ADD_FAILURE() << "a corrupt checkpoint was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  EXPECT_EQ(CheckpointReader::open_newest(dir.path(), torch::kCPU)->meta().state.global_step, 3);
}

TEST(Checkpoint, AnotherArchitectureOrClassCountIsRefused) {
  test::TempDir dir;
  Config cfg;
  auto m = make_model("resnet20", 10);
  auto opt = make_sgd(*m, cfg);
  save_checkpoint(dir / "c.pt", *m, *opt, meta_for(*m));
  CheckpointReader reader(dir / "c.pt", torch::kCPU);
  auto other = make_model("resnet32", 10);
  EXPECT_THROW(reader.load_model(*other), UserError);
  auto fewer = make_model("resnet20", 5);
  EXPECT_THROW(reader.load_model(*fewer), UserError);
}

// A checkpoint written before RunState holds the unfinished epoch's sums as an array.
TEST(Checkpoint, ReadsTheEarlierPartialEpochArray) {
  const auto s = read_run_state(nlohmann::json{
      {"epochs_done", 1}, {"global_step", 9}, {"batch_in_epoch", 2}, {"partial_epoch", {10.5, 7, 32, 1.25}}});
  EXPECT_EQ(s.epochs_done, 1);
  EXPECT_EQ(s.global_step, 9);
  EXPECT_EQ(s.batch_in_epoch, 2);
  EXPECT_EQ(s.partial.loss_x_images, 10.5);
  EXPECT_EQ(s.partial.correct, 7);
  EXPECT_EQ(s.partial.images, 32);
  EXPECT_EQ(s.partial.seconds, 1.25);
  nlohmann::json j;
  write_run_state(j, s);  // and writes them by name
  EXPECT_EQ(j.at("partial_epoch").at("images"), 32.0);
  EXPECT_EQ(read_run_state(j).partial.seconds, 1.25);
}

}  // namespace rt
