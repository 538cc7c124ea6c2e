// What `report` reads back and what runs write as CSV: class names escaped as RFC 4180 says,
// and a run folder's JSON files checked before anything is sized from them (a confusion matrix
// K x K for the K classes listed, K within kMaxClasses), every damage one UserError naming the
// file.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/config_table.h"
#include "core/errors.h"
#include "core/files.h"
#include "report/compare.h"
#include "report/plots.h"
#include "report/records.h"
#include "report/writers.h"
#include "test_util.h"

namespace rt {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The message of the UserError `f` throws ("no error" when it throws none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Writers, CsvFieldsAreEscapedAsRfc4180Says) {
  EXPECT_EQ(csv_field("cat"), "cat");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
  EXPECT_EQ(csv_field("\""), "\"\"\"\"");
}

TEST(Writers, ConfusionCsvQuotesClassNames) {
  test::TempDir dir;
  const std::string path = dir / "confusion_matrix.csv";
  write_confusion_csv(path, {{1, 2}, {3, 4}}, {"a,b", "say \"hi\""});
  EXPECT_EQ(read_text(path),
            "true\\predicted,\"a,b\",\"say \"\"hi\"\"\"\n"
            "\"a,b\",1,2\n"
            "\"say \"\"hi\"\"\",3,4\n");
}

// metrics.json with `k` classes in test.per_class and `matrix` as test.confusion_matrix.
void write_metrics(const std::string& dir, size_t k, const nlohmann::json& matrix) {
  make_dirs(dir);
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t i = 0; i < k; ++i) per_class.push_back({{"class", "c" + std::to_string(i)}, {"accuracy", 0.5}});
  nlohmann::json j = {{"test", {{"per_class", per_class}}}};
  if (!matrix.is_null()) j["test"]["confusion_matrix"] = matrix;
  write_file_atomic(dir + "/metrics.json", j.dump());
}

// A 1 MB metrics.json once asked for an 8.6 GB matrix: 30,000 classes listed, a 2 x 2 matrix.
TEST(Plots, ConfusionMatrixShapeIsCheckedBeforeAnythingIsSized) {
  test::TempDir dir;
  write_metrics(dir / "a", 30000, {{1, 0}, {0, 1}});
  EXPECT_NE(error_of([&] {
              write_run_plots(dir / "a");
            }).find("a/metrics.json: test.confusion_matrix has 2 rows for 30000 classes; it must be 30000 x 30000"),
            std::string::npos)
      << error_of([&] { write_run_plots(dir / "a"); });
  write_metrics(dir / "b", 3, {{1, 0, 0}, {0, 1}, {0, 0, 1}});
  EXPECT_NE(error_of([&] {
              write_run_plots(dir / "b");
            }).find("b/metrics.json: row 1 of test.confusion_matrix has 2 entries, not 3"),
            std::string::npos);
  write_metrics(dir / "c", 2, {{1, "x"}, {0, 1}});
  EXPECT_NE(error_of([&] {
              write_run_plots(dir / "c");
            }).find("c/metrics.json: row 0 of test.confusion_matrix holds a string, not a count"),
            std::string::npos);
  write_metrics(dir / "d", 2, {{1, -4}, {0, 1}});
  EXPECT_NE(error_of([&] { write_run_plots(dir / "d"); }).find("holds a number, not a count"), std::string::npos);
  write_metrics(dir / "e", static_cast<size_t>(kMaxClasses) + 1, nullptr);
  EXPECT_NE(error_of([&] { write_run_plots(dir / "e"); })
                .find("test.per_class lists 100001 classes; a run has 2 to "
                      "100000"),
            std::string::npos);
  // A per-class entry of the wrong type: one line naming the file, not nlohmann's type_error.
  make_dirs(dir / "f");
  write_file_atomic(dir / "f/metrics.json", R"({"test": {"per_class": [{"class": 3, "accuracy": 0.5},
                                                                     {"class": "b", "accuracy": 0.5}]}})");
  EXPECT_NE(error_of([&] { write_run_plots(dir / "f"); })
                .find("f/metrics.json: test.per_class or "
                      "test.confusion_matrix is damaged"),
            std::string::npos);
  // A scale.json of the wrong shape.
  make_dirs(dir / "g");
  write_file_atomic(dir / "g/scale.json", R"({"measured": [{"workers": "two"}]})");
  EXPECT_NE(error_of([&] { write_run_plots(dir / "g"); }).find("g/scale.json: not a scale.json"), std::string::npos);
}

TEST(Writers, RunFilesAreReadWithinLimits) {
  test::TempDir dir;
  write_file_atomic(dir / "deep.json", std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_NE(error_of([&] { read_json_file(dir / "deep.json"); }).find("deep.json: nested deeper than 32 levels"),
            std::string::npos);
  write_file_atomic(dir / "huge.json", "[1e999]");
  EXPECT_NE(error_of([&] { read_json_file(dir / "huge.json"); }).find("huge.json: not valid JSON"), std::string::npos);
}

TEST(Compare, ADamagedEnvironmentRecordNamesTheFile) {
  test::TempDir dir;
  make_dirs(dir / "run");
  RunMetrics m;
  m.model = "resnet20";
  m.environment = {{"scaled_lr", "fast"}};
  write_json_file(dir / "run/metrics.json", m);
  EXPECT_NE(error_of([&] { compare_runs({dir / "run"}); }).find("run/metrics.json: its environment record is damaged"),
            std::string::npos);
}

}  // namespace
}  // namespace rt
