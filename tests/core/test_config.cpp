#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "core/config.h"
#include "core/config_file.h"
#include "core/config_table.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/recipes.h"
#include "test_util.h"

namespace rt {

TEST(Config, DefaultsAreTheReferenceRecipe) {
  const Config c;
  EXPECT_EQ(c.model, "resnet50");
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_DOUBLE_EQ(c.lr, 0.1);
  EXPECT_DOUBLE_EQ(c.momentum, 0.9);
  EXPECT_DOUBLE_EQ(c.weight_decay, 1e-4);
  EXPECT_EQ(c.schedule, "multistep");
  EXPECT_EQ(c.milestones, (std::vector<int64_t>{5, 8}));
  EXPECT_EQ(c.epochs, 10);
  EXPECT_NO_THROW(validate(c));
}

TEST(Config, JsonRoundTripKeepsEveryField) {
  Config c;
  c.model = "resnet20";
  c.milestones = {3, 7, 9};
  c.label_smoothing = 0.1;
  c.seed = 42;
  c.nesterov = true;
  const Config back = config_from_json(to_json(c));
  EXPECT_EQ(to_json(back), to_json(c));
}

// The one table (core/config_table.h): a key and a flag per row, each once, and the JSON of a
// Config holds exactly its keys.
TEST(Config, TheTableDrivesKeysAndFlags) {
  std::set<std::string> keys, flags;
  for (const auto& f : config_fields()) {
    EXPECT_TRUE(keys.insert(f.key).second) << "key twice: " << f.key;
    EXPECT_TRUE(flags.insert(f.flag()).second) << "flag twice: " << f.flag();
    EXPECT_FALSE(std::string(f.help).empty()) << f.key;
  }
  const nlohmann::json defaults = to_json(Config{});
  EXPECT_EQ(config_fields().size(), defaults.size());
  for (const auto& [key, value] : defaults.items()) EXPECT_EQ(keys.count(key), 1u) << key;
  EXPECT_EQ(keys.size(), 59u);  // Config's fields
  const auto it = std::find_if(config_fields().begin(), config_fields().end(),
                               [](const ConfigField& f) { return std::string(f.key) == "limit_train"; });
  ASSERT_NE(it, config_fields().end());
  EXPECT_EQ(it->flag(), "--limit-train");
}

TEST(Config, UnknownKeyIsRejected) {
  EXPECT_THROW(config_from_json({{"batchsize", 3}}), UserError);
  EXPECT_THROW(config_from_json({{"epochs", "ten"}}), UserError);
}

TEST(Config, BadValuesAreRejectedWithTheirName) {
  auto expect_error = [](auto mutate, const std::string& flag) {
    Config c;
    mutate(c);
    try {
      validate(c);
      ADD_FAILURE() << "no error for " << flag;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  expect_error([](Config& c) { c.epochs = 0; }, "--epochs");
  expect_error([](Config& c) { c.batch_size = -1; }, "--batch-size");
  expect_error([](Config& c) { c.lr = 0; }, "--lr");
  expect_error([](Config& c) { c.milestones = {5, 3}; }, "--milestones");
  expect_error([](Config& c) { c.schedule = "step"; }, "--schedule");
  expect_error([](Config& c) { c.label_smoothing = 1.0; }, "--label-smoothing");
  expect_error([](Config& c) { c.warmup_epochs = 10; }, "--warmup-epochs");
  expect_error([](Config& c) { c.device = "tpu"; }, "--device");
  expect_error(
      [](Config& c) {
        c.cuda_graph = true;
        c.grad_accum = 2;
      },
      "--cuda-graph");
  expect_error([](Config& c) { c.recipe = "fastest"; }, "--recipe");
  // Each kind of range in the table (core/config_table.h).
  expect_error([](Config& c) { c.limit_test = -1; }, "--limit-test must be >= 0, got -1");
  expect_error([](Config& c) { c.num_classes = 1; }, "--num-classes must be at least 2, got 1");
  expect_error([](Config& c) { c.nproc = 2000; }, "--nproc must be in 0..1024, got 2000");
  expect_error([](Config& c) { c.momentum = 1; }, "--momentum must be in [0, 1), got 1");
  expect_error([](Config& c) { c.amp = "fp16"; }, "--amp must be one of auto, bf16, none; got 'fp16'");
  // Numbers that are not finite are refused up front, whatever else their range check says.
  const double inf = std::numeric_limits<double>::infinity();
  expect_error([&](Config& c) { c.lr = inf; }, "--lr must be a finite number, got inf");
  expect_error([&](Config& c) { c.weight_decay = inf; }, "--weight-decay must be a finite number");
  expect_error([&](Config& c) { c.bucket_mb = inf; }, "--bucket-mb must be a finite number");
  expect_error([&](Config& c) { c.timeout = inf; }, "--timeout must be a finite number");
  expect_error([&](Config& c) { c.gamma = std::nan(""); }, "--gamma must be a finite number");
}

TEST(Recipes, ReferenceIsTheCourseProjectsRecipe) {
  // The brief's numbers, written out here rather than taken from Config's defaults.
  const Config c = config_from_json(recipe_options("reference"));
  EXPECT_EQ(c.recipe, "reference");
  EXPECT_EQ(c.model, "resnet50");
  EXPECT_EQ(c.epochs, 10);
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_DOUBLE_EQ(c.lr, 0.1);
  EXPECT_DOUBLE_EQ(c.momentum, 0.9);
  EXPECT_FALSE(c.nesterov);
  EXPECT_DOUBLE_EQ(c.weight_decay, 1e-4);
  EXPECT_EQ(c.schedule, "multistep");
  EXPECT_EQ(c.milestones, (std::vector<int64_t>{5, 8}));
  EXPECT_DOUBLE_EQ(c.gamma, 0.1);
  EXPECT_DOUBLE_EQ(c.label_smoothing, 0.0);
  EXPECT_EQ(c.amp, "none");
  EXPECT_FALSE(c.channels_last);
}

TEST(Recipes, FastSetsItsIngredients) {
  const Config c = config_from_json(recipe_options("fast"));
  EXPECT_EQ(c.model, "resnet50");
  EXPECT_EQ(c.epochs, 10);
  EXPECT_EQ(c.batch_size, 512);
  EXPECT_EQ(c.lr_ref_batch, 512);  // --lr 0.4 is for a global batch of 512
  EXPECT_EQ(c.schedule, "onecycle");
  EXPECT_TRUE(c.nesterov);
  EXPECT_TRUE(c.no_decay_bn_bias);
  EXPECT_TRUE(c.zero_init_residual);
  EXPECT_DOUBLE_EQ(c.label_smoothing, 0.1);
  EXPECT_TRUE(c.channels_last);
  EXPECT_EQ(c.amp, "auto");
}

TEST(Recipes, EveryRecipeIsAValidConfigAndUnknownNamesAreListed) {
  ASSERT_GE(recipes().size(), 2u);
  for (const auto& r : recipes()) {
    EXPECT_FALSE(r.summary.empty()) << r.name;
    const Config c = config_from_json(recipe_options(r.name));
    EXPECT_EQ(c.recipe, r.name);
    EXPECT_NO_THROW(validate(c)) << r.name;
  }
  try {
    recipe_options("fastest");
    ADD_FAILURE() << "no error for an unknown recipe";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("reference, fast"), std::string::npos) << e.what();
  }
}

}  // namespace rt

namespace rt {

namespace {
std::string write_text(const std::string& path, const std::string& text) {
  write_file_atomic(path, text);
  return path;
}
}  // namespace

TEST(ConfigFile, YamlAndJsonGiveTheSameConfig) {
  test::TempDir dir;
  const auto yaml = write_text(dir.path() + "/run.yaml",
                               "# a comment\nmodel: resnet20\nbatch-size: 64\nlr: 0.05\nnesterov: true\n"
                               "milestones: [3, 6]\nschedule: 'cosine'\nseed: 7\n");
  const auto json = write_text(dir.path() + "/run.json",
                               R"({"model": "resnet20", "batch_size": 64, "lr": 0.05, "nesterov": true,
                                   "milestones": [3, 6], "schedule": "cosine", "seed": 7})");
  const Config a = config_from_json(read_config_file(yaml));
  const Config b = config_from_json(read_config_file(json));
  EXPECT_EQ(to_json(a), to_json(b));
  EXPECT_EQ(a.model, "resnet20");
  EXPECT_EQ(a.batch_size, 64);
  EXPECT_DOUBLE_EQ(a.lr, 0.05);
  EXPECT_TRUE(a.nesterov);
  EXPECT_EQ(a.milestones, (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(a.seed, 7u);
}

TEST(ConfigFile, ARunsConfigJsonIsAValidConfigForANewRun) {
  test::TempDir dir;
  Config c;
  c.model = "resnet18";
  c.epochs = 3;
  c.out = "runs/old";
  c.resume = "runs/older";
  nlohmann::json j = to_json(c);
  j["environment"] = {{"torch", "2.11.0"}, {"world_size", 2}};
  const auto path = write_text(dir.path() + "/config.json", j.dump(2));
  const Config back = config_from_json(read_config_file(path));
  EXPECT_EQ(back.model, "resnet18");
  EXPECT_EQ(back.epochs, 3);
  EXPECT_EQ(back.out, "");  // a new run folder, not the old run's
  EXPECT_EQ(back.resume, "");
}

TEST(ConfigFile, BadFilesNameTheProblem) {
  test::TempDir dir;
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      config_from_json(read_config_file(path));
      ADD_FAILURE() << "no error for " << path;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(write_text(dir.path() + "/bad.yaml", "model: [unclosed\n"), "not valid YAML");
  expect_error(write_text(dir.path() + "/bad.json", "{\"model\": }"), "not valid JSON");
  expect_error(write_text(dir.path() + "/list.yaml", "- a\n- b\n"), "mapping");
  expect_error(write_text(dir.path() + "/typo.yaml", "modle: resnet20\n"), "unknown configuration key 'modle'");
  expect_error(write_text(dir.path() + "/type.yaml", "epochs: ten\n"), "bad configuration value");
  expect_error(dir.path() + "/missing.yaml", "missing.yaml");
}

}  // namespace rt
