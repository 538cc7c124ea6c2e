// Classification metrics from a confusion matrix, with scikit-learn's definitions: per-class
// precision, recall (= per-class accuracy), F1 and support; accuracy; macro and
// support-weighted averages. A zero denominator gives 0 (sklearn's zero_division=0).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

// counts[t][p] = samples of true class t predicted as p.
using ConfusionMatrix = std::vector<std::vector<int64_t>>;

struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
};

struct ClassificationMetrics {
  std::vector<ClassScores> per_class;
  double accuracy = 0;
  ClassScores macro_avg;     // unweighted mean over classes; support = total
  ClassScores weighted_avg;  // mean weighted by support; support = total
  int64_t total = 0;
};

ClassificationMetrics compute_metrics(const ConfusionMatrix& counts);

// The text of sklearn.metrics.classification_report(digits=digits), same layout.
std::string classification_report(const ClassificationMetrics& m, const std::vector<std::string>& class_names,
                                  int digits = 2);

nlohmann::json metrics_to_json(const ClassificationMetrics& m, const std::vector<std::string>& class_names);

}  // namespace rt
