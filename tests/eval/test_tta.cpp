// Test-time augmentation against copies transformed by hand (index arithmetic, not torch's
// flip or pad): the logits are the paper's weighted mean of the passes, and evaluate() with
// --tta equals the same mean of plain evaluations of transformed data sets.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "eval/evaluate.h"
#include "eval/tta.h"
#include "model/registry.h"

namespace rt {

namespace {

// x[..., i, j] -> x[..., i, w-1-j], element by element.
torch::Tensor mirror_by_hand(const torch::Tensor& x) {
  auto out = torch::empty_like(x);
  const int64_t w = x.size(-1);
  for (int64_t j = 0; j < w; ++j) out.select(-1, j).copy_(x.select(-1, w - 1 - j));
  return out;
}

// The image moved by (d, d) pixels, d = +1 or -1, the border filled by reflection (torch's
// 'reflect': index -1 reads 1, index n reads n - 2): out[i][j] = x[i - d][j - d].
torch::Tensor shift_by_hand(const torch::Tensor& x, int64_t d) {
  const int64_t h = x.size(-2), w = x.size(-1);
  const auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); };
  auto rows = torch::empty_like(x);
  for (int64_t i = 0; i < h; ++i) rows.select(-2, i).copy_(x.select(-2, reflect(i - d, h)));
  auto out = torch::empty_like(x);
  for (int64_t j = 0; j < w; ++j) out.select(-1, j).copy_(rows.select(-1, reflect(j - d, w)));
  return out;
}

}  // namespace

TEST(Tta, LogitsAreThePapersWeightedMeanOfTheTransformedPasses) {
  torch::manual_seed(3);
  const auto x = torch::randn({4, 3, 6, 5});  // not square: rows and columns cannot be confused
  const auto weights = torch::randn({3 * 6 * 5, 7});
  int passes = 0;
  const auto f = [&](const torch::Tensor& v) {
    ++passes;
    return v.reshape({v.size(0), -1}).matmul(weights);
  };
  EXPECT_TRUE(torch::equal(tta_logits(f, x, Tta::kNone), f(x)));
  passes = 0;
  const auto flip = tta_logits(f, x, Tta::kFlip);
  EXPECT_EQ(passes, 2);
  EXPECT_TRUE(torch::allclose(flip, 0.5 * f(x) + 0.5 * f(mirror_by_hand(x)), 1e-5, 1e-5));
  passes = 0;
  const auto ft = tta_logits(f, x, Tta::kFlipTranslate);
  EXPECT_EQ(passes, 6);
  // Jordan 2024's infer_mirror_translate: 1/2 mirror-mean(x) + 1/2 mean over the two shifts of
  // their mirror-means.
  const auto mirror_mean = [&](const torch::Tensor& v) { return 0.5 * f(v) + 0.5 * f(mirror_by_hand(v)); };
  const auto expected =
      0.5 * mirror_mean(x) + 0.25 * mirror_mean(shift_by_hand(x, 1)) + 0.25 * mirror_mean(shift_by_hand(x, -1));
  EXPECT_TRUE(torch::allclose(ft, expected, 1e-5, 1e-5)) << (ft - expected).abs().max();
  // The mirror and the shifts matter: the flip-translate mean differs from the plain pass.
  EXPECT_GT((ft - f(x)).abs().max().item<double>(), 1e-2);
}

TEST(Tta, NamesRoundTripAndUnknownOnesAreRefused) {
  for (const Tta t : {Tta::kNone, Tta::kFlip, Tta::kFlipTranslate}) EXPECT_EQ(parse_tta(tta_name(t)), t);
  try {
    parse_tta("mirror");
    ADD_FAILURE() << "no error for an unknown TTA";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("none, flip or flip-translate"), std::string::npos) << e.what();
  }
}

TEST(Tta, EvaluationEqualsTheMeanOfPlainEvaluationsOfTransformedData) {
  // Normalisation is per channel, so transforming the uint8 images commutes with it.
  Dataset data;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  data.images = torch::randint(0, 256, {13, 3, 32, 32}, gen, torch::kUInt8);
  data.labels = torch::randint(0, 10, {13}, gen, torch::kInt64);
  data.class_names = std::vector<std::string>(10, "c");
  torch::manual_seed(0);
  auto model = make_model("airbench94", 10);
  model->initialise_from_data(data.images.to(torch::kFloat32).div(255).sub(0.5));
  EvalSpec spec;
  spec.batch_size = 5;  // batches of 5, 5, 3
  spec.keep_logits = true;
  const auto logits_of = [&](const torch::Tensor& images) {
    Dataset d = data;
    d.images = images.contiguous();
    return evaluate(*model, d, torch::kCPU, spec).logits;
  };
  const auto mirror_mean = [&](const torch::Tensor& v) {
    return 0.5 * logits_of(v) + 0.5 * logits_of(mirror_by_hand(v));
  };
  const auto expected = 0.5 * mirror_mean(data.images) + 0.25 * mirror_mean(shift_by_hand(data.images, 1)) +
                        0.25 * mirror_mean(shift_by_hand(data.images, -1));
  spec.tta = Tta::kFlipTranslate;
  const EvalResult r = evaluate(*model, data, torch::kCPU, spec);
  EXPECT_TRUE(torch::allclose(r.logits, expected, 1e-4, 1e-4)) << (r.logits - expected).abs().max();
  // The accuracy counts the averaged logits' predictions.
  const int64_t correct = r.logits.argmax(1).eq(data.labels).sum().item<int64_t>();
  EXPECT_DOUBLE_EQ(r.accuracy(), static_cast<double>(correct) / 13);
  const double loss =
      torch::nn::functional::cross_entropy(r.logits, data.labels,
                                           torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
          .item<double>();
  EXPECT_NEAR(r.loss_sum, loss, 1e-3);
}

}  // namespace rt
