#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>

#include "checkpoint/checkpoint.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/safetensors.h"
#include "device/dtype_names.h"
#include "device/torch_compat.h"
#include "model/registry.h"
#include "test_util.h"
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

// The checkpoint at `path` rewritten through `edit` (its tensors and metadata), with a valid
// checksum: what someone who crafts a file can do, since anyone can recompute a CRC.
using Edit = std::function<void(std::vector<SafetensorsBlob>&, std::map<std::string, std::string>&)>;
std::string recrafted(const std::string& path, const Edit& edit) {
  const auto bytes = read_file_bytes(path);
  const auto file = parse_safetensors(bytes.data(), bytes.size(), path, true);
  std::vector<SafetensorsBlob> blobs;
  for (const auto& e : file.tensors) {
    blobs.push_back({e.name, e.dtype, e.shape, bytes.data() + file.data_offset + e.begin, e.end - e.begin});
  }
  auto metadata = file.metadata;
  metadata.erase("crc32");
  edit(blobs, metadata);
  return encode_safetensors(blobs, metadata, /*checksum=*/true);
}

// Edits the JSON of the checkpoint's typed fields.
Edit fields(const std::function<void(nlohmann::json&)>& change) {
  return [change](std::vector<SafetensorsBlob>&, std::map<std::string, std::string>& metadata) {
    auto j = nlohmann::json::parse(metadata.at("ringtrain"));
    change(j);
    metadata["ringtrain"] = j.dump();
  };
}

// Fault injection: armed with a path, the rename into it fails (EIO). It replaces libc's rename
// for this test binary: ringtrain's libraries are linked into it statically, so their calls
// bind to this definition.
std::string g_fail_rename_to;

}  // namespace
}  // namespace rt

extern "C" int rename(const char* from, const char* to) noexcept {
  if (!rt::g_fail_rename_to.empty() && rt::g_fail_rename_to == to) {
    errno = EIO;
    return -1;
  }
  static const auto real = reinterpret_cast<int (*)(const char*, const char*)>(dlsym(RTLD_NEXT, "rename"));
  return real(from, to);
}

namespace rt {

// The container's dtype table (names, bytes per element) and LibTorch's scalar types by those
// names hold the same dtypes, of the same sizes.
TEST(Checkpoint, DtypeTablesAgree) {
  ASSERT_EQ(std::size(kDtypeNames), std::size(kSafetensorsDtypes));
  for (const auto& d : kDtypeNames) {
    EXPECT_EQ(safetensors_dtype_size(d.name), c10::elementSize(d.type)) << d.name;
    EXPECT_EQ(dtype_of(d.name), d.type);
    EXPECT_STREQ(dtype_name(d.type), d.name);
  }
}

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
  reader.load_optimizer(*opt_b, *b);
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

// Issue 21, defect 7: with --keep-checkpoints 1 the old checkpoint was unlinked before the new one
// was renamed in, so a kill (here: a failing rename) between the two left no checkpoint and the
// restart began from scratch. Now the newest readable one stays until the rename replaces it;
// temporaries of killed writes and checkpoints past a smaller --keep-checkpoints are removed.
TEST(Checkpoint, EveryMomentHoldsAReadableNewestCheckpoint) {
  test::TempDir dir;
  Config cfg;
  auto m = make_model("resnet20", 10);
  auto opt = make_sgd(*m, cfg);
  CheckpointMeta meta = meta_for(*m);
  meta.state.global_step = 1;
  save_checkpoint_rotating(dir.path(), /*keep=*/1, *m, *opt, meta);
  const auto saved = weights_fingerprint(*m);
  sgd_step(*m, *opt);
  meta.state.global_step = 2;
  g_fail_rename_to = checkpoint_path(dir.path());
  EXPECT_THROW(save_checkpoint_rotating(dir.path(), 1, *m, *opt, meta), UserError);
  g_fail_rename_to.clear();
  auto kept = CheckpointReader::open_newest(dir.path(), torch::kCPU);
  EXPECT_EQ(kept->meta().state.global_step, 1);
  auto other = make_model("resnet20", 10);
  kept->load_model(*other);
  EXPECT_EQ(weights_fingerprint(*other), saved);
  // A write killed mid-way left its temporary; a smaller --keep-checkpoints leaves older ones.
  test::write_bytes(dir / ".checkpoint.new.safetensors.tmp.a1B2c3", "partial");
  test::write_bytes(dir / ".unrelated.tmp.a1B2c3", "someone else's");
  std::filesystem::copy_file(checkpoint_path(dir.path()), dir / "checkpoint.1.safetensors");
  std::filesystem::copy_file(checkpoint_path(dir.path()), dir / "checkpoint.2.safetensors");
  save_checkpoint_rotating(dir.path(), 2, *m, *opt, meta);
  EXPECT_FALSE(std::filesystem::exists(dir / ".checkpoint.new.safetensors.tmp.a1B2c3"));
  EXPECT_TRUE(std::filesystem::exists(dir / ".unrelated.tmp.a1B2c3"));
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.2.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.new.safetensors"));
  EXPECT_EQ(CheckpointReader::open_newest(dir.path(), torch::kCPU)->meta().state.global_step, 2);
  EXPECT_EQ(CheckpointReader(dir / "checkpoint.1.safetensors", torch::kCPU).meta().state.global_step, 1);
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
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.3.safetensors"));
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

// Checkpoints are untrusted: each crafted one (with a valid checksum) is refused with one
// UserError naming the file, at reading or when a part is loaded, and leaves the model as it was.
TEST(Checkpoint, CraftedCheckpointsAreRefused) {
  test::TempDir dir;
  Config cfg;
  auto m = make_model("resnet20", 10);
  auto opt = make_sgd(*m, cfg);
  sgd_step(*m, *opt);
  const std::string good = dir / "good.safetensors";
  save_checkpoint(good, *m, *opt, meta_for(*m));
  static const float kFloats[64] = {};
  auto rename = [](const std::string& from, const std::string& to) -> Edit {
    return [from, to](std::vector<SafetensorsBlob>& blobs, std::map<std::string, std::string>&) {
      for (auto& b : blobs) {
        if (b.name == from) b.name = to;
      }
    };
  };
  auto reshape = [](const std::string& name, std::vector<int64_t> shape, std::string dtype) -> Edit {
    return [=](std::vector<SafetensorsBlob>& blobs, std::map<std::string, std::string>&) {
      for (auto& b : blobs) {
        if (b.name == name) b = {name, dtype, shape, kFloats, dtype == "I64" ? 8u : 4u * 64};
      }
    };
  };
  enum Stage { kRead, kModel, kOptimizer };
  struct Case {
    const char* what;
    Edit edit;
    Stage stage;
  };
  const std::vector<Case> cases = {
      {"an unknown tensor",
       [](auto& blobs, auto&) {
         blobs.push_back({"code/run_me", "U8", {1}, kFloats, 1});
       },
       kRead},
      {"another format name", [](auto&, auto& md) { md["format"] = "something-else"; }, kRead},
      {"a later format version", [](auto&, auto& md) { md["format_version"] = "99"; }, kRead},
      {"no typed fields", [](auto&, auto& md) { md.erase("ringtrain"); }, kRead},
      {"fields that are not JSON", [](auto&, auto& md) { md["ringtrain"] = "{not json"; }, kRead},
      {"a string for a number", fields([](auto& j) { j["num_classes"] = "ten"; }), kRead},
      {"a negative position", fields([](auto& j) { j["epochs_done"] = -3; }), kRead},
      {"a huge world size", fields([](auto& j) { j["world_size"] = int64_t{1} << 40; }), kRead},
      {"a negative sum", fields([](auto& j) { j["partial_epoch"]["images"] = -1.0; }), kRead},
      {"a config that is not an object", fields([](auto& j) { j["config"] = 7; }), kRead},
      {"no class count", fields([](auto& j) { j.erase("num_classes"); }), kRead},
      {"a class count out of range", fields([](auto& j) { j["num_classes"] = -5; }), kRead},
      {"deeply nested fields",
       fields([](auto& j) { j["config"]["x"] = nlohmann::json::parse(std::string(500, '[') + std::string(500, ']')); }),
       kRead},
      {"no generator state",
       [](auto& blobs, auto&) {
         blobs.erase(std::find_if(blobs.begin(), blobs.end(), [](auto& b) { return b.name == "rng/cpu"; }));
       },
       kRead},
      {"a weight of another shape", reshape("model/conv1.weight", {64}, "F32"), kModel},
      {"a weight of another dtype", reshape("model/linear.bias", {1}, "I64"), kModel},
      {"a missing weight", rename("model/linear.bias", "model/linear.bias_gone"), kModel},
      {"a momentum buffer of another shape", reshape("optimizer/momentum/linear.weight", {64}, "F32"), kOptimizer},
      {"a momentum buffer of no parameter",
       rename("optimizer/momentum/linear.weight", "optimizer/momentum/linear.nothing"), kOptimizer},
      {"a momentum buffer for a buffer",
       rename("optimizer/momentum/linear.weight", "optimizer/momentum/bn1.running_mean"), kOptimizer},
      {"a generator state of another size", reshape("rng/cpu", {64}, "F32"), kRead},
      {"a generator state the generator refuses (all zero: was an abort when restored)",
       [](auto& blobs, auto&) {
         static const std::vector<unsigned char> zeros(static_cast<size_t>(cpu_rng_state().numel()));
         for (auto& b : blobs) {
           if (b.name == "rng/cpu")
             b = {b.name, "U8", {static_cast<int64_t>(zeros.size())}, zeros.data(), zeros.size()};
         }
       },
       kRead},
  };
  const auto before = weights_fingerprint(*m);
  for (const auto& c : cases) {
    const std::string path = dir / "crafted.safetensors";
    test::write_bytes(path, recrafted(good, c.edit));
    try {
      CheckpointReader r(path, torch::kCPU);
      ASSERT_NE(c.stage, kRead) << c.what << ": read";
      auto target = make_model("resnet20", 10);
      auto target_opt = make_sgd(*target, cfg);
      const auto fresh = weights_fingerprint(*target);
      if (c.stage == kModel) {
        EXPECT_THROW(r.load_model(*target), UserError) << c.what;
        EXPECT_EQ(weights_fingerprint(*target), fresh) << c.what << ": the model was changed";
      } else {
        r.load_model(*target);
        EXPECT_THROW(r.load_optimizer(*target_opt, *target), UserError) << c.what;
      }
    } catch (const UserError& e) {
      EXPECT_EQ(c.stage, kRead) << c.what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << c.what << ": " << e.what();
    }
  }
  EXPECT_EQ(weights_fingerprint(*m), before);
  // The good one still reads: the edits above were the only difference.
  test::write_bytes(dir / "same.safetensors", recrafted(good, [](auto&, auto&) {}));
  CheckpointReader same(dir / "same.safetensors", torch::kCPU);
  auto target = make_model("resnet20", 10);
  auto target_opt = make_sgd(*target, cfg);
  same.load_model(*target);
  same.load_optimizer(*target_opt, *target);
  same.restore_rng();
  EXPECT_EQ(weights_fingerprint(*target), before);
}

// A TorchScript archive (what checkpoints were before: a zip) is refused without being read,
// with the way forward, and open_newest says the same of a run folder that holds only one.
TEST(Checkpoint, TheOldExecutableFormatIsRefusedUnread) {
  test::TempDir dir;
  test::write_bytes(dir / "checkpoint.pt", std::string("PK\x03\x04") + std::string(100, 'x'));
  for (const auto& attempt :
       std::vector<std::function<void()>>{[&] { CheckpointReader(dir / "checkpoint.pt", torch::kCPU); },
                                          [&] { CheckpointReader::open_newest(dir.path(), torch::kCPU); }}) {
    try {
      attempt();
      ADD_FAILURE() << "an old checkpoint was read";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("old TorchScript format"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--init-from"), std::string::npos) << e.what();
    }
  }
}

}  // namespace rt
