#include "eval/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace rt {

namespace {
double safe_div(double a, double b) { return b == 0 ? 0.0 : a / b; }
}  // namespace

ClassificationMetrics compute_metrics(const ConfusionMatrix& counts) {
  const size_t c = counts.size();
  ClassificationMetrics m;
  m.per_class.resize(c);
  int64_t correct = 0;
  for (size_t t = 0; t < c; ++t) {
    int64_t predicted = 0;  // column sum: samples predicted as t
    for (size_t r = 0; r < c; ++r) predicted += counts[r][t];
    int64_t actual = 0;  // row sum: samples of class t
    for (size_t p = 0; p < c; ++p) actual += counts[t][p];
    const auto tp = static_cast<double>(counts[t][t]);
    ClassScores& s = m.per_class[t];
    s.precision = safe_div(tp, static_cast<double>(predicted));
    s.recall = safe_div(tp, static_cast<double>(actual));
    s.f1 = safe_div(2 * s.precision * s.recall, s.precision + s.recall);
    s.support = actual;
    correct += counts[t][t];
    m.total += actual;
  }
  m.accuracy = safe_div(static_cast<double>(correct), static_cast<double>(m.total));
  for (const auto& s : m.per_class) {
    m.macro_avg.precision += s.precision / static_cast<double>(c);
    m.macro_avg.recall += s.recall / static_cast<double>(c);
    m.macro_avg.f1 += s.f1 / static_cast<double>(c);
    const double w = safe_div(static_cast<double>(s.support), static_cast<double>(m.total));
    m.weighted_avg.precision += w * s.precision;
    m.weighted_avg.recall += w * s.recall;
    m.weighted_avg.f1 += w * s.f1;
  }
  m.macro_avg.support = m.weighted_avg.support = m.total;
  return m;
}

std::string classification_report(const ClassificationMetrics& m, const std::vector<std::string>& class_names,
                                  int digits) {
  // Mirrors sklearn/metrics/_classification.py: name column as wide as the longest of the
  // class names and "weighted avg", then four right-aligned 9-wide columns.
  size_t width = std::string("weighted avg").size();
  for (const auto& n : class_names) width = std::max(width, n.size());
  width = std::max(width, static_cast<size_t>(digits));
  auto row = [&](const std::string& name, const ClassScores& s) {
    return fmt::format("{:>{}} {:>10.{}f}{:>10.{}f}{:>10.{}f}{:>10}\n", name, width, s.precision, digits, s.recall,
                       digits, s.f1, digits, s.support);
  };
  std::string out =
      fmt::format("{:>{}} {:>10}{:>10}{:>10}{:>10}\n\n", "", width, "precision", "recall", "f1-score", "support");
  for (size_t i = 0; i < m.per_class.size(); ++i) out += row(class_names.at(i), m.per_class[i]);
  out += "\n";
  out += fmt::format("{:>{}} {:>10}{:>10}{:>10.{}f}{:>10}\n", "accuracy", width, "", "", m.accuracy, digits, m.total);
  out += row("macro avg", m.macro_avg);
  out += row("weighted avg", m.weighted_avg);
  return out;
}

nlohmann::json metrics_to_json(const ClassificationMetrics& m, const std::vector<std::string>& class_names) {
  auto scores = [](const ClassScores& s) {
    return nlohmann::json{{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
  };
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t i = 0; i < m.per_class.size(); ++i) {
    auto j = scores(m.per_class[i]);
    j["class"] = class_names.at(i);
    j["accuracy"] = m.per_class[i].recall;  // per-class accuracy is the class's recall
    per_class.push_back(j);
  }
  return {{"accuracy", m.accuracy},
          {"total", m.total},
          {"per_class", per_class},
          {"macro_avg", scores(m.macro_avg)},
          {"weighted_avg", scores(m.weighted_avg)}};
}

}  // namespace rt
