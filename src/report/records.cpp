#include "report/records.h"

#include "core/errors.h"
#include "core/json_input.h"
#include "report/writers.h"

namespace rt {

void to_json(nlohmann::json& j, const CommRecord& r) {
  j = {{"backend", r.backend},
       {"compression", r.compression},
       {"buckets", r.buckets},
       {"bytes_allreduced_per_step", r.bytes_allreduced_per_step},
       {"exposed_comm_seconds_per_step", r.exposed_comm_seconds_per_step},
       {"compute_seconds_per_step", r.compute_seconds_per_step},
       {"allreduce_seconds_per_step", r.allreduce_seconds_per_step},
       {"exposed_comm_share", r.exposed_comm_share},
       {"overlap_share", r.overlap_share}};
}

void from_json(const nlohmann::json& j, CommRecord& r) {
  r.backend = j.at("backend").get<std::string>();
  r.compression = j.value("compression", "none");  // records before schema 2 had none
  r.buckets = j.at("buckets").get<int64_t>();
  r.bytes_allreduced_per_step = json_number(j, "bytes_allreduced_per_step");
  r.exposed_comm_seconds_per_step = json_number(j, "exposed_comm_seconds_per_step");
  r.compute_seconds_per_step = json_number(j, "compute_seconds_per_step");
  r.allreduce_seconds_per_step = json_number(j, "allreduce_seconds_per_step");
  r.exposed_comm_share = json_number(j, "exposed_comm_share");
  r.overlap_share = json_number(j, "overlap_share");
}

void to_json(nlohmann::json& j, const EpochRecord& r) {
  j = {{"schema_version", kRecordSchemaVersion},
       {"epoch", r.epoch},
       {"train_loss", r.train_loss},
       {"train_accuracy", r.train_accuracy},
       {"test_loss", r.test_loss},
       {"test_accuracy", r.test_accuracy},
       {"lr", r.lr},
       {"train_seconds", r.train_seconds},
       {"seconds", r.seconds},
       {"images_per_second", r.images_per_second},
       {"world_size", r.world_size},
       {"global_batch", r.global_batch},
       {"data_wait_seconds", r.data_wait_seconds},
       {"skipped_images", r.skipped_images},
       {"comm", r.comm}};
}

void from_json(const nlohmann::json& j, EpochRecord& r) {
  const int version = j.value("schema_version", 1);
  RT_CHECK_USER(version <= kRecordSchemaVersion,
                "a history entry has schema version {}, newer than this ringtrain reads ({}); use a newer "
                "ringtrain",
                version, kRecordSchemaVersion);
  r.epoch = j.at("epoch").get<int64_t>();
  r.train_loss = json_number(j, "train_loss");
  r.train_accuracy = json_number(j, "train_accuracy");
  r.test_loss = json_number(j, "test_loss");
  r.test_accuracy = json_number(j, "test_accuracy");
  r.lr = json_number(j, "lr");
  r.train_seconds = json_number(j, "train_seconds");
  r.seconds = json_number(j, "seconds");
  r.images_per_second = json_number(j, "images_per_second");
  r.world_size = j.at("world_size").get<int64_t>();
  r.global_batch = j.at("global_batch").get<int64_t>();
  r.data_wait_seconds = j.value("data_wait_seconds", 0.0);
  r.skipped_images = j.value("skipped_images", int64_t{0});
  if (j.contains("comm")) r.comm = j.at("comm").get<CommRecord>();  // not in the earliest histories
}

void to_json(nlohmann::json& j, const RunMetrics& m) {
  j = {{"schema_version", kRecordSchemaVersion},
       {"model", m.model},
       {"param_count", m.param_count},
       {"epochs", m.epochs},
       {"steps", m.steps},
       {"world_size", m.world_size},
       {"global_batch", m.global_batch},
       {"test_accuracy", m.test_accuracy},
       {"best_test_accuracy", m.best_test_accuracy},
       {"best_epoch", m.best_epoch},
       {"tta", m.tta},
       {"test_accuracy_without_tta", m.test_accuracy_without_tta},
       {"tta_seconds", m.tta_seconds},
       {"total_seconds", m.total_seconds},
       {"train_seconds", m.train_seconds},
       {"train_images_per_second", m.train_images_per_second},
       {"comm_last_epoch", m.comm_last_epoch},
       {"weights_fingerprint", m.weights_fingerprint},
       {"replica_fingerprints", m.replica_fingerprints},
       {"skipped_nonfinite_steps", m.skipped_nonfinite_steps},
       {"skipped_images", m.skipped_images},
       {"data_wait_share", m.data_wait_share},
       {"checkpoint", m.checkpoint},
       {"environment", m.environment},
       {"membership", m.membership}};
}

void from_json(const nlohmann::json& j, RunMetrics& m) {
  const int version = j.value("schema_version", 1);
  RT_CHECK_USER(version <= kRecordSchemaVersion,
                "metrics.json has schema version {}, newer than this ringtrain reads ({}); use a newer ringtrain",
                version, kRecordSchemaVersion);
  m.model = j.at("model").get<std::string>();
  m.param_count = j.at("param_count").get<int64_t>();
  m.epochs = j.at("epochs").get<int64_t>();
  m.steps = j.at("steps").get<int64_t>();
  m.world_size = j.at("world_size").get<int64_t>();
  m.global_batch = j.at("global_batch").get<int64_t>();
  m.test_accuracy = json_number(j, "test_accuracy");
  m.best_test_accuracy = json_number(j, "best_test_accuracy");
  m.best_epoch = j.at("best_epoch").get<int64_t>();
  m.tta = j.value("tta", std::string("none"));
  m.test_accuracy_without_tta =
      j.contains("test_accuracy_without_tta") ? json_number(j, "test_accuracy_without_tta") : m.test_accuracy;
  m.tta_seconds = j.value("tta_seconds", 0.0);
  m.total_seconds = json_number(j, "total_seconds");
  m.train_seconds = json_number(j, "train_seconds");
  m.train_images_per_second = json_number(j, "train_images_per_second");
  if (j.contains("comm_last_epoch") && j.at("comm_last_epoch").is_object()) {
    m.comm_last_epoch = j.at("comm_last_epoch").get<CommRecord>();
  }
  m.weights_fingerprint = j.value("weights_fingerprint", std::string());
  m.replica_fingerprints = j.value("replica_fingerprints", std::vector<std::string>());
  m.skipped_nonfinite_steps = j.value("skipped_nonfinite_steps", int64_t{0});
  m.skipped_images = j.value("skipped_images", int64_t{0});
  m.data_wait_share = j.value("data_wait_share", 0.0);
  m.checkpoint = j.value("checkpoint", std::string());
  m.environment = j.value("environment", nlohmann::json::object());
  m.membership = j.value("membership", std::vector<MembershipEvent>());
}

RunMetrics read_run_metrics(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  RT_CHECK_USER(j.is_object() && j.contains("world_size"),
                "{} is not the metrics.json of a training run (an `eval` folder?); name the run folder", path);
  try {
    return j.get<RunMetrics>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{} has no complete training metrics: not a metrics.json of `ringtrain train` ({})",
                                path, e.what()));
  }
}

std::vector<EpochRecord> read_history_file(const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  RT_CHECK_USER(j.is_array(), "{}: not a history (a JSON array of epochs)", path);
  try {
    return j.get<std::vector<EpochRecord>>();
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: an epoch record is incomplete or damaged ({})", path, e.what()));
  }
}

RunTotals run_totals(const std::vector<EpochRecord>& history) {
  RunTotals t;
  for (const auto& h : history) {
    t.seconds += h.seconds;
    t.train_seconds += h.train_seconds;
    t.train_images += h.images_per_second * h.train_seconds;
    if (h.test_accuracy > t.best_test_accuracy) {
      t.best_test_accuracy = h.test_accuracy;
      t.best_epoch = h.epoch;
    }
  }
  return t;
}

}  // namespace rt
