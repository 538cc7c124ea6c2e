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
  EXPECT_EQ(keys.size(), 75u);  // Config's fields
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
  expect_error([](Config& c) { c.grad_accum = 0; }, "--grad-accum must be at least 1, got 0");
  expect_error([](Config& c) { c.num_classes = 1; }, "--num-classes must be 0 (the data's class count) or at least 2");
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

TEST(Recipes, Airbench94IsThePapersHyperparametersOnTheMeanLoss) {
  const Config c = config_from_json(recipe_options("airbench94"));
  EXPECT_EQ(c.model, "airbench94");
  EXPECT_EQ(c.batch_size, 1024);
  EXPECT_EQ(c.lr_ref_batch, 1024);
  // The paper: lr 11.5 and wd 0.0153 per 1024 images on the summed loss, divided by
  // 1024 (1 + 1/(1 - momentum)); the per-step decay lr x wd is the same in both terms.
  const double momentum = 0.85, kilostep = 1024 * (1 + 1 / (1 - momentum));
  const double paper_lr = 11.5 / kilostep, paper_decay_per_step = 0.0153 * 1024 / kilostep;
  EXPECT_DOUBLE_EQ(c.momentum, momentum);
  EXPECT_NEAR(c.lr, paper_lr * 1024, 1e-12);  // the mean loss of 1024 images: gradients 1/1024 of the sum's
  EXPECT_NEAR(c.lr * c.weight_decay, paper_decay_per_step, 1e-12);
  EXPECT_TRUE(c.nesterov);
  EXPECT_FALSE(c.no_decay_bn_bias);
  EXPECT_DOUBLE_EQ(c.bn_bias_lr_mult, 64);
  EXPECT_EQ(c.whiten_bias_epochs, 3);
  EXPECT_EQ(c.schedule, "triangle");
  EXPECT_DOUBLE_EQ(c.label_smoothing, 0.2);
  EXPECT_EQ(c.ema_every, 5);
  EXPECT_EQ(c.translate, 2);
  EXPECT_EQ(c.pad_mode, "reflect");
  EXPECT_EQ(c.flip, "alternate");
  EXPECT_EQ(c.tta, "flip-translate");
  EXPECT_TRUE(c.channels_last);
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
      config_from_json(read_config_file(path), path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(write_text(dir.path() + "/bad.yaml", "model: [unclosed\n"), "not valid YAML");
  expect_error(write_text(dir.path() + "/bad.json", "{\"model\": }"), "not valid JSON");
  expect_error(write_text(dir.path() + "/list.yaml", "- a\n- b\n"), "mapping");
  expect_error(write_text(dir.path() + "/typo.yaml", "modle: resnet20\n"), "unknown configuration key 'modle'");
  expect_error(write_text(dir.path() + "/type.yaml", "epochs: ten\n"),
               "type.yaml: 'epochs' must be a whole number, got string \"ten\"");
  expect_error(dir.path() + "/missing.yaml", "missing.yaml");
}

// Note [Upper limits]: each count that sizes an allocation or a thread pool has a largest
// value, and the message names the flag, the value and the limit.
TEST(Config, CountsHaveUpperLimits) {
  auto expect_error = [](auto mutate, const std::string& needle) {
    Config c;
    mutate(c);
    try {
      validate(c);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([](Config& c) { c.threads = 5000; }, "--threads must be at most 1024, got 5000");
  expect_error([](Config& c) { c.loader_threads = 1025; }, "--loader-threads must be at most 1024, got 1025");
  expect_error([](Config& c) { c.prefetch = 65; }, "--prefetch must be at most 64, got 65");
  expect_error([](Config& c) { c.image_size = 4097; }, "--image-size must be at most 4096, got 4097");
  expect_error([](Config& c) { c.batch_size = 65537; }, "--batch-size must be at most 65536, got 65537");
  expect_error([](Config& c) { c.eval_batch_size = int64_t{1} << 40; }, "--eval-batch-size must be at most 65536");
  expect_error([](Config& c) { c.num_classes = 100001; }, "--num-classes must be at most 100000, got 100001");
  expect_error([](Config& c) { c.num_classes = -3; }, "--num-classes must be >= 0, got -3");
  expect_error([](Config& c) { c.epochs = 1000000; }, "--epochs must be at most 100000, got 1000000");
  expect_error([](Config& c) { c.grad_accum = 5000; }, "--grad-accum must be at most 4096, got 5000");
  expect_error([](Config& c) { c.global_batch = int64_t{1} << 40; }, "--global-batch must be at most 67108864");
  expect_error([](Config& c) { c.limit_train = int64_t{1} << 50; }, "--limit-train must be at most 1000000000");
  expect_error([](Config& c) { c.keep_checkpoints = 5000; }, "--keep-checkpoints must be at most 1000");
  expect_error([](Config& c) { c.bucket_mb = 1e6; }, "--bucket-mb must be at most 4096, got 1000000");
  expect_error([](Config& c) { c.timeout = 1e12; }, "--timeout must be at most 604800");
  expect_error([](Config& c) { c.nproc = 1025; }, "--nproc must be in 0..1024, got 1025");
  // The limits themselves are taken.
  Config c;
  c.threads = kMaxThreads;
  c.prefetch = kMaxPrefetch;
  c.image_size = kMaxImageSize;
  c.batch_size = kMaxBatch;
  c.num_classes = kMaxClasses;
  EXPECT_NO_THROW(validate(c));
  EXPECT_THROW(check_flag_range("--batch-size", kMaxBatch + 1, 1, kMaxBatch, "why"), UserError);
  EXPECT_NO_THROW(check_flag_range("--batch-size", kMaxBatch, 1, kMaxBatch, "why"));
}

// A value of another type than its field's is one line naming the file, the key and the type
// expected: no silent conversion (2.5 epochs, -1 as a seed) and no nlohmann type_error.
TEST(ConfigFile, WrongTypesNameTheFileKeyAndType) {
  auto message = [](const std::string& text, ConfigSyntax syntax) -> std::string {
    try {
      config_from_json(parse_config_text(text, syntax, "my.cfg"), "my.cfg");
    } catch (const UserError& e) {
      return e.what();
    }
    return "no error";
  };
  const auto json = ConfigSyntax::kJson;
  EXPECT_EQ(message(R"({"model": 5})", json), "my.cfg: 'model' must be a string, got number 5");
  EXPECT_EQ(message(R"({"recipe": 7})", json), "my.cfg: 'recipe' must be a string, got number 7");
  EXPECT_EQ(message(R"({"epochs": "ten"})", json), "my.cfg: 'epochs' must be a whole number, got string \"ten\"");
  EXPECT_EQ(message(R"({"epochs": 2.5})", json), "my.cfg: 'epochs' must be a whole number, got number 2.5");
  EXPECT_EQ(message(R"({"epochs": null})", json), "my.cfg: 'epochs' must be a whole number, got null");
  EXPECT_EQ(message(R"({"batch_size": 99999999999999999999})", json),
            "my.cfg: 'batch_size' must be a whole number, got number 1e+20");
  EXPECT_EQ(message(R"({"threads": 18446744073709551615})", json),
            "my.cfg: 'threads' must be a whole number, got number 18446744073709551615");
  EXPECT_EQ(message(R"({"seed": -1})", json), "my.cfg: 'seed' must be a whole number >= 0, got number -1");
  EXPECT_EQ(message(R"({"nesterov": "yes"})", json), "my.cfg: 'nesterov' must be true or false, got string \"yes\"");
  EXPECT_EQ(message(R"({"lr": "0.1"})", json), "my.cfg: 'lr' must be a number, got string \"0.1\"");
  EXPECT_EQ(message(R"({"milestones": "5,8"})", json),
            "my.cfg: 'milestones' must be a list of whole numbers, e.g. [5, 8], got string \"5,8\"");
  EXPECT_EQ(message(R"({"milestones": [5, "8"]})", json),
            "my.cfg: 'milestones' must be a list of whole numbers, e.g. [5, 8], got array [5,\"8\"]");
  EXPECT_EQ(message("model: {a: 1}\n", ConfigSyntax::kYaml), "my.cfg: 'model' must be a string, got object {\"a\":1}");
  EXPECT_NE(message(R"({"epochs": 1e999})", json).find("my.cfg: not valid JSON"), std::string::npos);
  EXPECT_EQ(message(std::string(R"({"data": ")") + std::string(100, 'x') + "\"}", json), "no error");  // a string
  EXPECT_EQ(message(R"({"epochs": 3, "seed": 4, "lr": 1})", json), "no error");  // 1 is a number for lr
}

// Note [Config file limits]: aliases, nesting and size are bounded; each refusal is one
// UserError naming the file, in well under a second.
TEST(ConfigFile, AliasesNestingAndSizeAreBounded) {
  auto message = [](const std::string& text, ConfigSyntax syntax) -> std::string {
    try {
      parse_config_text(text, syntax, "crafted");
    } catch (const UserError& e) {
      return e.what();
    }
    return "no error";
  };
  const auto yaml = ConfigSyntax::kYaml;
  // An alias inside the node it names: a cycle, not an endless expansion (was a SIGSEGV).
  EXPECT_NE(message("a: &x [1, *x]\n", yaml)
                .find("crafted: line 1: an alias (*name) refers to a mapping or list "
                      "that contains it"),
            std::string::npos)
      << message("a: &x [1, *x]\n", yaml);
  EXPECT_NE(message("a: &x {b: *x}\n", yaml).find("contains it"), std::string::npos);
  // Billion laughs: 10^9 values from nine lines (was bad_alloc).
  std::string laughs = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 9; ++i) {
    laughs += fmt::format("l{0}: &l{0} [", i);
    for (int k = 0; k < 10; ++k) laughs += fmt::format("{}*l{}", k ? ", " : "", i - 1);
    laughs += "]\n";
  }
  EXPECT_NE(message(laughs, yaml).find("crafted: more than 100000 values once its aliases"), std::string::npos)
      << message(laughs, yaml);
  // A few aliases are fine: an alias expands to a copy.
  EXPECT_EQ(parse_config_text("a: &m [5, 8]\nmilestones: *m\n", yaml, "ok").at("milestones"), nlohmann::json({5, 8}));
  // Nesting.
  const std::string deep_yaml = std::string(100, '[') + std::string(100, ']');
  EXPECT_NE(message("a: " + deep_yaml + "\n", yaml).find("nested deeper than 32 levels"), std::string::npos)
      << message("a: " + deep_yaml + "\n", yaml);
  const std::string deep_json = "{\"a\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  EXPECT_NE(message(deep_json, ConfigSyntax::kJson).find("crafted: nested deeper than 32 levels"), std::string::npos)
      << message(deep_json, ConfigSyntax::kJson);
  // Keys are names.
  EXPECT_NE(message("[a, b]: 1\n", yaml).find("a key must be a plain name"), std::string::npos);
  // Size: refused before parsing (by its size, before reading it); a device is refused unread.
  test::TempDir dir;
  const std::string big = dir.path() + "/big.yaml";
  write_file_atomic(big, "# " + std::string(kMaxConfigFileBytes, 'x') + "\nmodel: resnet20\n");
  try {
    read_config_file(big);
    ADD_FAILURE() << "no error for a config file past the limit";
  } catch (const UserError& e) {
    EXPECT_NE(
        std::string(e.what()).find("big.yaml is 1,048,595 bytes, more than a config file can be (1,048,576 at most)"),
        std::string::npos)
        << e.what();
  }
  EXPECT_NE(message(std::string(kMaxConfigFileBytes + 1, ' '), ConfigSyntax::kJson).find("larger than"),
            std::string::npos);
  EXPECT_THROW(read_config_file("/dev/zero"), UserError);  // endless: never read
}

// The path version is the text version over the file's bytes.
TEST(ConfigFile, FileAndTextGiveTheSameValues) {
  test::TempDir dir;
  const std::string text = "model: resnet20\nepochs: 3\n";
  const auto path = write_text(dir.path() + "/a.yml", text);
  EXPECT_EQ(read_config_file(path), parse_config_text(text, ConfigSyntax::kYaml, path));
}

}  // namespace rt
