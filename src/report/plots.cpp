#include "report/plots.h"

#include <fmt/format.h>
#include <plstream.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>

#include "core/config_table.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "report/writers.h"

namespace rt {

namespace {

// Colour map 0 indices (set in Figure): 0 background, 1 axes and text, then the series.
enum Colour : PLINT { kWhite = 0, kBlack = 1, kBlue = 2, kOrange = 3, kGreen = 4, kRed = 5, kGrey = 6, kPurple = 7 };

// PLplot's exit handler: instead of letting plexit() end the process, throw, so that a
// figure that cannot be drawn is an error the caller reports (Note [PLplot errors]). PLplot's C
// frames have unwind tables (the default on x86-64), so the exception passes through them.
int throw_instead_of_exit(const char* message) {
  throw UserError(fmt::format("PLplot: {}", message != nullptr ? message : "fatal error"));
}

// Whether PLplot has its cairo PNG device (Debian: plplot-driver-cairo). Without it plinit()
// would prompt for a device on stdin and then exit(): see Note [PLplot errors].
bool have_pngcairo() {
  static const bool have = [] {
    plsexit(&throw_instead_of_exit);
    constexpr int kMax = 256;
    std::vector<const char*> menus(kMax), names(kMax);
    const char** menu = menus.data();
    const char** name = names.data();
    int n = kMax;
    plgDevs(&menu, &name, &n);
    for (int i = 0; i < n; ++i) {
      if (name[i] != nullptr && std::string(name[i]) == "pngcairo") return true;
    }
    return false;
  }();
  return have;
}

// One PNG: a PLplot stream on the cairo PNG device, written to `path`.part and renamed to
// `path` by finish(). Note [PLplot errors]: PLplot ends the process on a fatal error (it
// calls exit()), so what it needs is checked before it starts: its PNG device, and that the
// output folder is writable.
class Figure {
 public:
  Figure(const std::string& path, int width, int height, int panels_x = 1, int panels_y = 1)
      : path_(path), part_(path + ".part") {
    RT_CHECK_USER(have_pngcairo(),
                  "PLplot has no pngcairo device to draw {}: install plplot-driver-cairo "
                  "(scripts/setup.sh does)",
                  path);
    {
      std::ofstream probe(part_, std::ios::binary);
      RT_CHECK_USER(probe.good(), "cannot write {}: check that the folder exists and is writable", part_);
    }
    auto& pls_ = stream_.emplace();
    pls_.sdev("pngcairo");
    pls_.sfnam(part_.c_str());
    pls_.spage(0, 0, width, height, 0, 0);
    pls_.scolbg(255, 255, 255);
    pls_.scmap0n(16);
    pls_.scol0(kBlack, 0, 0, 0);
    pls_.scol0(kBlue, 31, 119, 180);
    pls_.scol0(kOrange, 255, 127, 14);
    pls_.scol0(kGreen, 44, 160, 44);
    pls_.scol0(kRed, 214, 39, 40);
    pls_.scol0(kGrey, 127, 127, 127);
    pls_.scol0(kPurple, 148, 103, 189);
    if (panels_x * panels_y > 1) pls_.ssub(panels_x, panels_y);
    pls_.init();
    pls_.schr(0, 1.0);
  }
  plstream& operator*() { return *stream_; }
  plstream* operator->() { return &*stream_; }

  // Ends the PLplot stream (which writes the file) and moves it into place.
  void finish() {
    stream_.reset();
    finished_ = true;
    RT_CHECK_USER(file_size_or_zero(part_) > 0, "PLplot wrote nothing to {}", part_);
    RT_CHECK_USER(std::rename(part_.c_str(), path_.c_str()) == 0, "cannot rename {} to {}", part_, path_);
  }
  ~Figure() {
    if (!finished_) {
      stream_.reset();
      std::remove(part_.c_str());
    }
  }
  Figure(const Figure&) = delete;
  Figure& operator=(const Figure&) = delete;

 private:
  std::string path_, part_;
  // Optional so that finish() can end the stream (which writes the file) before the rename.
  std::optional<plstream> stream_;
  bool finished_ = false;
};

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // A range with a margin, never empty; `from_zero` keeps 0 as the lower end for positive data.
  std::pair<double, double> padded(bool from_zero) const {
    double a = std::isfinite(lo) ? lo : 0, b = std::isfinite(hi) ? hi : 1;
    if (from_zero && a >= 0) a = 0;
    if (b - a < 1e-12) {
      const double d = std::max(std::abs(b) * 0.1, 1e-3);
      a -= d;
      b += d;
      if (from_zero && lo >= 0) a = std::max(a, 0.0);
    }
    const double m = 0.06 * (b - a);
    return {from_zero && a == 0 ? 0 : a - m, b + m};
  }
};

struct Series {
  std::string label;
  std::vector<double> x, y;
  PLINT colour;
  PLINT style = 1;  // 1 solid, 2 dashed (PLplot's line styles)
};

void draw_series(plstream& pls, const Series& s, bool points) {
  pls.col0(s.colour);
  pls.lsty(s.style);
  pls.width(2.0);
  pls.line(static_cast<PLINT>(s.x.size()), s.x.data(), s.y.data());
  if (points) pls.poin(static_cast<PLINT>(s.x.size()), s.x.data(), s.y.data(), 17);  // 17: filled dot
  pls.lsty(1);
  pls.width(1.0);
}

void draw_legend(plstream& pls, const std::vector<Series>& series, PLINT position) {
  const auto n = static_cast<PLINT>(series.size());
  std::vector<PLINT> opts(n, PL_LEGEND_LINE), text_colours(n, kBlack), colours(n), styles(n);
  std::vector<PLFLT> widths(n, 2.0);
  std::vector<const char*> text(n);
  for (PLINT i = 0; i < n; ++i) {
    colours[i] = series[i].colour;
    styles[i] = series[i].style;
    text[i] = series[i].label.c_str();
  }
  PLFLT w = 0, h = 0;
  pls.legend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, position | PL_POSITION_INSIDE, 0.02, 0.03, 0.08,
             kWhite, kBlack, 1, 0, 0, n, opts.data(), 1.0, 0.8, 2.0, 0.0, text_colours.data(), text.data(), nullptr,
             nullptr, nullptr, nullptr, colours.data(), styles.data(), widths.data(), nullptr, nullptr, nullptr,
             nullptr);
}

// One panel of line series over a shared x range.
void line_panel(plstream& pls, const std::string& title, const std::string& xlabel, const std::string& ylabel,
                const std::vector<Series>& series, std::pair<double, double> xr, bool y_from_zero,
                PLINT legend_position) {
  Range yr;
  for (const auto& s : series) {
    for (double v : s.y) yr.add(v);
  }
  const auto [y0, y1] = yr.padded(y_from_zero);
  pls.vsta();
  pls.wind(xr.first, xr.second, y0, y1);
  pls.col0(kBlack);
  const double xtick = std::max(1.0, std::ceil((xr.second - xr.first) / 8));  // whole epochs
  pls.box("bcnst", xtick, 1, "bcnstv", 0, 0);
  pls.lab(xlabel.c_str(), ylabel.c_str(), title.c_str());
  for (const auto& s : series) draw_series(pls, s, /*points=*/true);
  if (series.size() > 1) draw_legend(pls, series, legend_position);
}

// Red (low) -> yellow -> green (high) in colour map 1.
void set_level_colours(plstream& pls) {
  const PLFLT pos[] = {0.0, 0.5, 1.0};
  const PLFLT r[] = {0.84, 0.99, 0.17}, g[] = {0.15, 0.75, 0.63}, b[] = {0.16, 0.2, 0.17};
  pls.scmap1n(256);
  pls.scmap1l(true, 3, pos, r, g, b, nullptr);
}

}  // namespace

void plot_training_curves(const std::vector<EpochRecord>& history, const std::string& png_path) {
  RT_CHECK_USER(!history.empty(), "{}: no epochs to plot", png_path);
  Series train_loss{"train", {}, {}, kBlue}, test_loss{"test", {}, {}, kOrange};
  Series train_acc{"train", {}, {}, kBlue}, test_acc{"test", {}, {}, kOrange};
  Series lr{"lr", {}, {}, kGreen}, speed{"images/s", {}, {}, kPurple};
  for (const auto& h : history) {
    for (auto* s : {&train_loss, &test_loss, &train_acc, &test_acc, &lr, &speed})
      s->x.push_back(static_cast<double>(h.epoch));
    train_loss.y.push_back(h.train_loss);
    test_loss.y.push_back(h.test_loss);
    train_acc.y.push_back(100 * h.train_accuracy);
    test_acc.y.push_back(100 * h.test_accuracy);
    lr.y.push_back(h.lr);
    speed.y.push_back(h.images_per_second);
  }
  const double last = train_loss.x.back();
  const std::pair<double, double> xr{0.5, std::max(last, 1.0) + 0.5};
  Figure fig(png_path, 1400, 1000, 2, 2);
  fig->adv(1);
  line_panel(*fig, "Loss", "epoch", "cross-entropy", {train_loss, test_loss}, xr, true,
             PL_POSITION_TOP | PL_POSITION_RIGHT);
  fig->adv(2);
  line_panel(*fig, "Accuracy", "epoch", "accuracy (%)", {train_acc, test_acc}, xr, true,
             PL_POSITION_BOTTOM | PL_POSITION_RIGHT);
  fig->adv(3);
  line_panel(*fig, "Learning rate (last step of the epoch)", "epoch", "learning rate", {lr}, xr, true, 0);
  fig->adv(4);
  line_panel(*fig, "Training throughput (all workers)", "epoch", "images/s", {speed}, xr, true, 0);
  fig.finish();
}

void plot_per_class_accuracy(const std::vector<std::string>& class_names, const std::vector<double>& accuracy,
                             const std::string& png_path) {
  RT_CHECK_USER(!class_names.empty() && class_names.size() == accuracy.size(), "{}: {} class names for {} accuracies",
                png_path, class_names.size(), accuracy.size());
  const auto n = static_cast<double>(class_names.size());
  double mean = 0;
  for (double a : accuracy) mean += a / n;
  Figure fig(png_path, 1200, 700);
  auto& pls = *fig;
  set_level_colours(pls);
  pls.adv(0);
  pls.vpor(0.08, 0.97, 0.25, 0.92);  // room below for the class names
  pls.wind(0, n, 0, 105);
  for (size_t i = 0; i < class_names.size(); ++i) {
    const double x0 = static_cast<double>(i) + 0.15, x1 = static_cast<double>(i) + 0.85, a = 100 * accuracy[i];
    const PLFLT xs[] = {x0, x1, x1, x0}, ys[] = {0, 0, a, a};
    pls.col1(std::clamp(accuracy[i], 0.0, 1.0));
    pls.fill(4, xs, ys);
    pls.col0(kBlack);
    pls.ptex(static_cast<double>(i) + 0.5, a + 3, 1, 0, 0.5, fmt::format("{:.1f}", a).c_str());
    pls.mtex("bv", 0.8, (static_cast<double>(i) + 0.5) / n, 1.0, class_names[i].c_str());
  }
  pls.col0(kGrey);
  pls.lsty(2);
  const PLFLT mx[] = {0, n}, my[] = {100 * mean, 100 * mean};
  pls.line(2, mx, my);
  pls.lsty(1);
  pls.col0(kBlack);
  pls.box("bc", 0, 0, "bcnstv", 20, 2);
  pls.mtex("l", 3.5, 0.5, 0.5, "accuracy (%)");
  pls.mtex("t", 1.5, 0.5, 0.5,
           fmt::format("Per-class test accuracy (dashed: mean over classes {:.1f}%)", 100 * mean).c_str());
  fig.finish();
}

void plot_confusion_matrix(const std::vector<std::vector<int64_t>>& counts, const std::vector<std::string>& class_names,
                           bool row_normalised, const std::string& png_path) {
  const size_t c = class_names.size();
  RT_CHECK_USER(c > 0 && counts.size() == c, "{}: a {}x? confusion matrix for {} classes", png_path, counts.size(), c);
  RT_CHECK_USER(c <= static_cast<size_t>(kMaxConfusionPlotClasses), "{}: {} classes; the figure is drawn for up to {}",
                png_path, c, kMaxConfusionPlotClasses);
  for (size_t t = 0; t < c; ++t) {  // the shape is checked before anything is sized from it
    RT_CHECK_USER(counts[t].size() == c, "{}: confusion row {} has {} entries, expected {}", png_path, t,
                  counts[t].size(), c);
  }
  // value[t][p]; true class 0 is drawn as the top row.
  std::vector<std::vector<double>> value(c, std::vector<double>(c));
  double zmax = 0;
  for (size_t t = 0; t < c; ++t) {
    int64_t row_total = 0;
    for (int64_t v : counts[t]) row_total += v;
    for (size_t p = 0; p < c; ++p) {
      value[t][p] = row_normalised ? (row_total > 0 ? static_cast<double>(counts[t][p]) / row_total : 0)
                                   : static_cast<double>(counts[t][p]);
      zmax = std::max(zmax, value[t][p]);
    }
  }
  if (zmax <= 0) zmax = 1;
  const auto n = static_cast<double>(c);
  Figure fig(png_path, 1100, 1000);
  auto& pls = *fig;
  {  // white -> dark blue
    const PLFLT pos[] = {0.0, 1.0}, r[] = {1.0, 0.03}, g[] = {1.0, 0.19}, b[] = {1.0, 0.42};
    pls.scmap1n(256);
    pls.scmap1l(true, 2, pos, r, g, b, nullptr);
  }
  pls.adv(0);
  pls.vpor(0.21, 0.95, 0.2, 0.92);
  pls.wind(0, n, 0, n);
  pls.schr(0, c > 20 ? 0.5 : 0.8);
  for (size_t t = 0; t < c; ++t) {
    const double y0 = n - 1 - static_cast<double>(t);
    for (size_t p = 0; p < c; ++p) {
      const double x0 = static_cast<double>(p), v = value[t][p];
      const PLFLT xs[] = {x0, x0 + 1, x0 + 1, x0}, ys[] = {y0, y0, y0 + 1, y0 + 1};
      pls.col1(v / zmax);
      pls.fill(4, xs, ys);
      if (c > 40) continue;  // the counts would not fit their cells
      pls.col0(v > 0.55 * zmax ? kWhite : kBlack);
      const std::string text = row_normalised ? fmt::format("{:.2f}", v) : fmt::format("{}", static_cast<int64_t>(v));
      pls.ptex(x0 + 0.5, y0 + 0.5, 1, 0, 0.5, text.c_str());
    }
  }
  pls.schr(0, 1.0);
  pls.col0(kBlack);
  pls.box("bc", 0, 0, "bc", 0, 0);
  for (size_t i = 0; i < c; ++i) {
    const double centre = (static_cast<double>(i) + 0.5) / n;
    pls.mtex("bv", 0.8, centre, 1.0, class_names[i].c_str());        // predicted, left to right
    pls.mtex("lv", 0.8, 1.0 - centre, 1.0, class_names[i].c_str());  // true, top to bottom
  }
  pls.mtex("b", 8.5, 0.5, 0.5, "predicted class");
  pls.mtex("l", 9.5, 0.5, 0.5, "true class");
  pls.mtex("t", 1.5, 0.5, 0.5,
           row_normalised ? "Confusion matrix (share of each true class)" : "Confusion matrix (test images)");
  fig.finish();
}

void plot_scaling(const nlohmann::json& scale, const std::string& speedup_png, const std::string& efficiency_png) {
  RT_CHECK_USER(scale.contains("measured") && scale.at("measured").is_array() && !scale.at("measured").empty(),
                "scale.json has no measured runs to plot");
  const bool weak = scale.value("scaling", "strong") == "weak";
  double max_workers = 1;
  // A measured or projected row {workers, speedup, efficiency}: one point of each series.
  auto add_row = [&max_workers](Series& speedup, Series& efficiency, const nlohmann::json& row) {
    const double w = row.at("workers").get<double>();
    speedup.x.push_back(std::log10(w));
    speedup.y.push_back(row.at("speedup").get<double>());
    efficiency.x.push_back(std::log10(w));
    efficiency.y.push_back(100 * row.at("efficiency").get<double>());
    max_workers = std::max(max_workers, w);
  };
  Series measured_speedup{"measured", {}, {}, kBlack}, measured_eff{"measured", {}, {}, kBlack};
  for (const auto& m : scale.at("measured")) add_row(measured_speedup, measured_eff, m);
  std::vector<Series> projected_speedup, projected_eff;
  const PLINT link_colours[] = {kBlue, kOrange, kGreen, kRed, kPurple, kGrey};
  size_t k = 0;
  for (const auto& link : scale.value("projection", nlohmann::json::array())) {
    const std::string name = "projected, " + link.value("link", std::string("link"));
    Series s{name, {}, {}, link_colours[k % 6]}, e{name, {}, {}, link_colours[k % 6]};
    for (const auto& r : link.at("rows")) add_row(s, e, r);
    ++k;
    if (s.x.empty()) continue;
    projected_speedup.push_back(std::move(s));
    projected_eff.push_back(std::move(e));
  }
  const double lx1 = std::log10(max_workers) + 0.1;
  const std::string model = scale.value("model", std::string("model"));
  const std::string what = fmt::format("{} scaling of {}", weak ? "weak" : "strong", model);
  {  // speedup, log2-log2, with the ideal line
    Series ideal{"ideal", {0, std::log10(max_workers)}, {0, std::log10(max_workers)}, kGrey, 3};
    std::vector<Series> all = {ideal};
    for (auto s : projected_speedup) {
      for (double& y : s.y) y = std::log10(std::max(y, 1e-3));
      all.push_back(std::move(s));
    }
    Series m = measured_speedup;
    for (double& y : m.y) y = std::log10(std::max(y, 1e-3));
    all.push_back(m);
    Figure fig(speedup_png, 1100, 800);
    auto& pls = *fig;
    pls.adv(0);
    pls.vsta();
    Range yr;
    for (const auto& s : all) {
      for (double v : s.y) yr.add(v);
    }
    pls.wind(-0.1, lx1, std::min(yr.lo, 0.0) - 0.1, std::max(yr.hi, 0.0) + 0.2);
    pls.col0(kBlack);
    pls.box("bcnstl", 1, 0, "bcnstvl", 1, 0);  // "l": the data are log10, labels 10^v
    pls.lab("workers (log scale)", "speedup over 1 worker (log scale)", ("Speedup: " + what).c_str());
    for (const auto& s : all) draw_series(pls, s, s.label == "measured");
    draw_legend(pls, all, PL_POSITION_TOP | PL_POSITION_LEFT);
    fig.finish();
  }
  {  // efficiency
    std::vector<Series> all = projected_eff;
    all.push_back(measured_eff);
    Figure fig(efficiency_png, 1100, 800);
    auto& pls = *fig;
    pls.adv(0);
    pls.vsta();
    pls.wind(-0.1, lx1, 0, 110);
    pls.col0(kBlack);
    pls.box("bcnstl", 1, 0, "bcnstv", 10, 2);
    pls.lab("workers (log scale)", "parallel efficiency (%)", ("Efficiency: " + what).c_str());
    pls.col0(kGrey);
    pls.lsty(3);
    const PLFLT gx[] = {-0.1, lx1}, gy[] = {90, 90};
    pls.line(2, gx, gy);
    pls.lsty(1);
    for (const auto& s : all) draw_series(pls, s, s.label == "measured");
    draw_legend(pls, all, PL_POSITION_BOTTOM | PL_POSITION_LEFT);
    fig.finish();
  }
}

namespace {

// What the figures of metrics.json need: per class its name and accuracy, and the confusion
// matrix (empty when the file has none).
struct MetricsFigures {
  std::vector<std::string> class_names;
  std::vector<double> accuracy;
  std::vector<std::vector<int64_t>> confusion;
};

// Reads test.per_class and test.confusion_matrix of `path`, checking their shapes before
// anything is sized from them: K classes (at most kMaxClasses), a K x K matrix of counts.
MetricsFigures read_metrics_figures(const std::string& path) {
  const nlohmann::json metrics = read_json_file(path);
  MetricsFigures m;
  try {
    if (!metrics.is_object() || !metrics.contains("test") || !metrics.at("test").contains("per_class")) return m;
    const nlohmann::json& test = metrics.at("test");
    const nlohmann::json& per_class = test.at("per_class");
    RT_CHECK_USER(per_class.is_array() && !per_class.empty(), "{}: test.per_class is not a list of classes", path);
    const size_t k = per_class.size();
    RT_CHECK_USER(k >= 2 && k <= static_cast<size_t>(kMaxClasses),
                  "{}: test.per_class lists {} classes; a run has 2 to {}", path, k, kMaxClasses);
    for (const auto& c : per_class) {
      m.class_names.push_back(c.at("class").get<std::string>());
      m.accuracy.push_back(c.at("accuracy").get<double>());
    }
    if (!test.contains("confusion_matrix")) return m;
    const nlohmann::json& matrix = test.at("confusion_matrix");
    RT_CHECK_USER(matrix.is_array() && matrix.size() == k,
                  "{}: test.confusion_matrix has {} rows for {} classes; it must be {} x {}", path,
                  matrix.is_array() ? matrix.size() : 0, k, k, k);
    for (size_t t = 0; t < k; ++t) {
      const nlohmann::json& row = matrix[t];
      RT_CHECK_USER(row.is_array() && row.size() == k, "{}: row {} of test.confusion_matrix has {} entries, not {}",
                    path, t, row.is_array() ? row.size() : 0, k);
      for (const auto& v : row) {
        RT_CHECK_USER(v.is_number_unsigned() && v.get<uint64_t>() <= uint64_t{1} << 62,
                      "{}: row {} of test.confusion_matrix holds a {}, not a count", path, t, v.type_name());
      }
    }
    m.confusion = matrix.get<std::vector<std::vector<int64_t>>>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: test.per_class or test.confusion_matrix is damaged ({})", path, e.what()));
  }
  return m;
}

}  // namespace

std::vector<std::string> write_run_plots(const std::string& dir) {
  std::vector<std::string> written;
  if (file_exists(dir + "/history.json")) {
    const auto history = read_history_file(dir + "/history.json");
    if (!history.empty()) {
      plot_training_curves(history, dir + "/training_curves.png");
      written.push_back(dir + "/training_curves.png");
    }
  }
  if (file_exists(dir + "/metrics.json")) {
    const std::string path = dir + "/metrics.json";
    const MetricsFigures m = read_metrics_figures(path);
    if (!m.class_names.empty()) {
      plot_per_class_accuracy(m.class_names, m.accuracy, dir + "/per_class_accuracy.png");
      written.push_back(dir + "/per_class_accuracy.png");
    }
    if (m.confusion.size() > static_cast<size_t>(kMaxConfusionPlotClasses)) {
      log_info(
          "{}: {} classes: the confusion matrix is drawn for up to {} classes (its counts are in "
          "confusion_matrix.csv)",
          path, m.confusion.size(), kMaxConfusionPlotClasses);
    } else if (!m.confusion.empty()) {
      plot_confusion_matrix(m.confusion, m.class_names, false, dir + "/confusion_matrix.png");
      plot_confusion_matrix(m.confusion, m.class_names, true, dir + "/confusion_matrix_normalized.png");
      written.push_back(dir + "/confusion_matrix.png");
      written.push_back(dir + "/confusion_matrix_normalized.png");
    }
  }
  if (file_exists(dir + "/scale.json")) {
    const std::string path = dir + "/scale.json";
    try {
      plot_scaling(read_json_file(path), dir + "/scaling_speedup.png", dir + "/scaling_efficiency.png");
    } catch (const nlohmann::json::exception& e) {
      throw UserError(fmt::format("{}: not a scale.json of `ringtrain scale` ({})", path, e.what()));
    }
    written.push_back(dir + "/scaling_speedup.png");
    written.push_back(dir + "/scaling_efficiency.png");
  }
  return written;
}

}  // namespace rt
