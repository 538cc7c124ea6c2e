#include <gtest/gtest.h>

#include "core/config.h"
#include "core/errors.h"

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
}

}  // namespace rt
