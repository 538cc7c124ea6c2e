// The weight average with lookahead (train/lookahead.h) against values worked out by hand, and
// its checkpointed state.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "train/lookahead.h"

namespace rt {

namespace {

// One parameter and one float buffer (and an integer buffer the average leaves alone).
class Tiny : public Classifier {
 public:
  Tiny() {
    w = register_parameter("w", torch::tensor({1.0f}));
    b = register_buffer("b", torch::tensor({10.0f}));
    count = register_buffer("count", torch::tensor({int64_t{0}}));
  }
  torch::Tensor forward(torch::Tensor x) override { return x; }
  std::string arch() const override { return "tiny"; }
  int64_t num_classes() const override { return 1; }
  torch::Tensor w, b, count;
};

}  // namespace

TEST(Lookahead, UpdatesEveryNStepsAndEndsOnTheAverage) {
  Tiny m;
  // every 2 steps, rate 0.5, power 1, 4 steps: decay at step 2 = 0.5^2 x 2/4 = 0.125, at 4 = 0.25.
  Lookahead la(m, 2, 0.5, 1.0, 4);
  EXPECT_DOUBLE_EQ(la.decay_at(2), 0.125);
  torch::NoGradGuard no_grad;
  m.w.fill_(2);  // step 1: no update
  la.after_step(1);
  EXPECT_EQ(m.w.item<float>(), 2.0f);
  m.w.fill_(3);
  m.b.fill_(14);
  la.after_step(2);                           // average = 1 + 0.875 (3 - 1) = 2.75; b: 10 + 0.875 x 4 = 13.5
  EXPECT_FLOAT_EQ(m.w.item<float>(), 2.75f);  // the weights are set to it
  EXPECT_FLOAT_EQ(m.b.item<float>(), 13.5f);
  m.w.fill_(3.75f);
  la.after_step(3);
  EXPECT_FLOAT_EQ(m.w.item<float>(), 3.75f);
  m.w.fill_(4.75f);
  la.after_step(4);  // 2.75 + 0.75 (4.75 - 2.75) = 4.25, and the run ends on it
  EXPECT_FLOAT_EQ(m.w.item<float>(), 4.25f);
  const auto state = la.state();
  ASSERT_EQ(state.size(), 2u);  // w and b; not the integer count
  EXPECT_EQ(state[0].first, "w");
  EXPECT_FLOAT_EQ(state[0].second.item<float>(), 4.25f);
}

TEST(Lookahead, ResumesItsAverageAndRefusesAnotherModels) {
  Tiny a, b;
  Lookahead la(a, 1, 0.5, 0.0, 100), lb(b, 1, 0.5, 0.0, 100);
  torch::NoGradGuard no_grad;
  a.w.fill_(5);
  la.after_step(1);  // decay 0.5: average 3
  lb.load_state(la.state());
  b.w.fill_(5);
  lb.after_step(2);
  a.w.fill_(5);
  la.after_step(2);
  EXPECT_FLOAT_EQ(a.w.item<float>(), 4.0f);
  EXPECT_TRUE(torch::equal(a.w, b.w));
  auto renamed = la.state();
  renamed[0].first = "v";
  EXPECT_THROW(lb.load_state(renamed), UserError);
  auto reshaped = la.state();
  reshaped[0].second = torch::zeros({2});
  EXPECT_THROW(lb.load_state(reshaped), UserError);
}

}  // namespace rt
