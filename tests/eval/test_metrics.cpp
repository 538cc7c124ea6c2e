// Metrics against values computed by hand for a small confusion matrix, and the report
// against the text of scikit-learn's format strings applied to those values.
#include <gtest/gtest.h>

#include "eval/evaluate.h"
#include "eval/metrics.h"

namespace rt {

namespace {
// rows: true class, columns: predicted.   cat dog bird
const ConfusionMatrix kCounts = {{5, 1, 0},   // cat  (support 6)
                                 {2, 3, 1},   // dog  (support 6)
                                 {0, 0, 4}};  // bird (support 4)
}  // namespace

TEST(Metrics, HandComputedValues) {
  const auto m = compute_metrics(kCounts);
  const double tol = 1e-12;
  EXPECT_NEAR(m.accuracy, 12.0 / 16, tol);
  EXPECT_EQ(m.total, 16);
  EXPECT_NEAR(m.per_class[0].precision, 5.0 / 7, tol);  // column sum 7
  EXPECT_NEAR(m.per_class[0].recall, 5.0 / 6, tol);
  EXPECT_NEAR(m.per_class[0].f1, 10.0 / 13, tol);  // 2pr/(p+r)
  EXPECT_NEAR(m.per_class[1].precision, 3.0 / 4, tol);
  EXPECT_NEAR(m.per_class[1].recall, 0.5, tol);
  EXPECT_NEAR(m.per_class[1].f1, 0.6, tol);
  EXPECT_NEAR(m.per_class[2].precision, 0.8, tol);
  EXPECT_NEAR(m.per_class[2].recall, 1.0, tol);
  EXPECT_NEAR(m.per_class[2].f1, 8.0 / 9, tol);
  EXPECT_EQ(m.per_class[2].support, 4);
  EXPECT_NEAR(m.macro_avg.precision, (5.0 / 7 + 0.75 + 0.8) / 3, tol);
  EXPECT_NEAR(m.macro_avg.recall, (5.0 / 6 + 0.5 + 1.0) / 3, tol);
  EXPECT_NEAR(m.macro_avg.f1, (10.0 / 13 + 0.6 + 8.0 / 9) / 3, tol);
  EXPECT_NEAR(m.weighted_avg.precision, (6 * 5.0 / 7 + 6 * 0.75 + 4 * 0.8) / 16, tol);
  EXPECT_NEAR(m.weighted_avg.recall, 0.75, tol);
  EXPECT_NEAR(m.weighted_avg.f1, (6 * 10.0 / 13 + 6 * 0.6 + 4 * 8.0 / 9) / 16, tol);
}

TEST(Metrics, ZeroDivisionGivesZero) {
  const auto m = compute_metrics({{2, 0}, {2, 0}});  // class 1 never predicted nor right
  EXPECT_EQ(m.per_class[1].precision, 0);
  EXPECT_EQ(m.per_class[1].f1, 0);
  EXPECT_NEAR(m.per_class[0].precision, 0.5, 1e-12);
}

TEST(Metrics, ReportHasScikitLearnLayout) {
  // Produced by sklearn's own format strings on the hand-computed values above.
  const std::string expected =
      "              precision    recall  f1-score   support\n\n"
      "         cat       0.71      0.83      0.77         6\n"
      "         dog       0.75      0.50      0.60         6\n"
      "        bird       0.80      1.00      0.89         4\n\n"
      "    accuracy                           0.75        16\n"
      "   macro avg       0.75      0.78      0.75        16\n"
      "weighted avg       0.75      0.75      0.74        16\n";
  EXPECT_EQ(classification_report(compute_metrics(kCounts), {"cat", "dog", "bird"}), expected);
}

TEST(Metrics, ConfusionFromLogits) {
  ConfusionMatrix counts(3, std::vector<int64_t>(3, 0));
  const auto logits = torch::tensor({{9.f, 0.f, 0.f}, {0.f, 0.f, 9.f}, {0.f, 9.f, 0.f}, {0.f, 9.f, 0.f}});
  const auto labels = torch::tensor({0, 1, 1, 2}, torch::kInt64);
  accumulate_confusion(counts, logits, labels);
  EXPECT_EQ(counts, (ConfusionMatrix{{1, 0, 0}, {0, 1, 1}, {0, 1, 0}}));
}

}  // namespace rt
