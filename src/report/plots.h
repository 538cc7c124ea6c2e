// The PNG figures of a run, drawn with PLplot (its cairo PNG device): training curves,
// per-class accuracy, confusion matrix heat maps, and for `ringtrain scale` speedup and
// efficiency against the number of workers. Each file is rendered under a temporary name
// and renamed into place, so a figure is either whole or absent.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report/records.h"

namespace rt {

// 2x2 panels over epochs: train/test loss, train/test accuracy, learning rate, images/s.
// `history` is a run's history.json (one object per epoch).
void plot_training_curves(const std::vector<EpochRecord>& history, const std::string& png_path);

// One bar per class, coloured by its accuracy (red low .. green high), the overall accuracy
// as a dashed line. `accuracy` in [0, 1].
void plot_per_class_accuracy(const std::vector<std::string>& class_names, const std::vector<double>& accuracy,
                             const std::string& png_path);

// The most classes a confusion matrix figure is drawn for: past that its cells are below a
// pixel (the counts stay in confusion_matrix.csv), and drawing K x K cells would take minutes.
inline constexpr int64_t kMaxConfusionPlotClasses = 200;

// Heat map of counts[true][predicted] with class names on both axes and, up to 40 classes,
// each cell's value written in it; `row_normalised` shows each row as a share of its true
// class. UserError for more than kMaxConfusionPlotClasses classes or a matrix not K x K.
void plot_confusion_matrix(const std::vector<std::vector<int64_t>>& counts, const std::vector<std::string>& class_names,
                           bool row_normalised, const std::string& png_path);

// From `ringtrain scale`'s scale.json: speedup (measured, ideal, projected per link) and
// parallel efficiency against the number of workers.
void plot_scaling(const nlohmann::json& scale, const std::string& speedup_png, const std::string& efficiency_png);

// Every figure the files in `dir` allow: training_curves.png (history.json), per_class_accuracy.png,
// confusion_matrix.png and confusion_matrix_normalized.png (metrics.json; up to
// kMaxConfusionPlotClasses classes), scaling_speedup.png and scaling_efficiency.png
// (scale.json). Returns the paths written. UserError naming the file for one that is damaged:
// a confusion matrix that is not K x K for the K classes of per_class (checked before anything
// is sized from it), K past kMaxClasses, a value of the wrong type.
std::vector<std::string> write_run_plots(const std::string& dir);

}  // namespace rt
