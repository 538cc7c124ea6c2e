// `ringtrain forecast`: the step-time model (measure/scaling.h) alone, from measurements given on
// the command line: the training speed of one worker, the link (an allreduce measurement to fit,
// or a bandwidth and latency) and the gradient compression (its compute measured here unless
// given). For checking the model against runs measured elsewhere (bench/shaped_links.py), and
// for asking "what if" without running anything.
#include <cmath>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "measure/bench.h"
#include "measure/scale_study.h"
#include "model/registry.h"
#include "parallel/job.h"
#include "report/writers.h"
#include "train/run_outputs.h"

namespace rt {

namespace {

struct ForecastOptions {
  std::string model = "resnet18";
  int64_t batch_size = 32;               // per worker (weak scaling)
  std::vector<int64_t> nproc = {1, 2};   // world sizes to forecast
  double compute_images_per_second = 0;  // one worker's measured training speed
  std::string allreduce;                 // `bench --allreduce --json` output to fit the link to
  double link_gbps = 0, link_latency_us = 5;
  std::string compression = "none";
  double compress_ms = -1;  // per step; < 0: measured here with `threads`
  double bucket_mb = 25;
  double sync_ms = 0;               // the lock-step cost per step, given ...
  double calibrate_img_per_s = 0;   // ... or calibrated: a measured fp32 run's img/s (all workers)
  std::string calibrate_allreduce;  // over the link of this `bench --allreduce --json` output
  std::string gradient_timing;      // an earlier `forecast --json` output whose gradient timing to reuse
  int64_t threads = 1;
  bool json = false;
};

LinkModel fitted_link(const std::string& flag, const std::string& path, int64_t* world_size = nullptr) {
  try {
    const nlohmann::json j = read_json_file(path);
    LinkModel link = fit_link_to_allreduce(j);
    link.name = path;
    if (world_size != nullptr) *world_size = j.at("world_size").get<int64_t>();
    return link;
  } catch (const UserError& e) {
    throw UserError(fmt::format("{} {}: {}", flag, path, e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{} {}: not a `ringtrain bench --allreduce --json` output ({})", flag, path, e.what()));
  }
}

LinkModel link_of(const ForecastOptions& o) {
  if (o.allreduce.empty()) {
    RT_CHECK_USER(o.link_gbps > 0 && o.link_latency_us >= 0,
                  "forecast needs a link: --allreduce FILE (from `ringtrain bench --allreduce --json`) or "
                  "--link-gbps G [--link-latency-us U]");
    return link_of_rate(o.link_gbps, o.link_latency_us);
  }
  return fitted_link("--allreduce", o.allreduce);
}

// The lock-step cost: given, or the residual of a measured fp32 run over another link.
double sync_seconds_of(const ForecastOptions& o, const StepModel& base) {
  if (o.calibrate_img_per_s <= 0 && o.calibrate_allreduce.empty()) {
    RT_CHECK_USER(o.sync_ms >= 0 && std::isfinite(o.sync_ms), "--sync-ms must be >= 0, got {}", o.sync_ms);
    return o.sync_ms / 1e3;
  }
  RT_CHECK_USER(o.calibrate_img_per_s > 0 && !o.calibrate_allreduce.empty(),
                "calibrating needs both --calibrate-img-per-s (a measured fp32 run of several workers) and "
                "--calibrate-allreduce (its link's `bench --allreduce --json`)");
  int64_t n = 0;
  const LinkModel link = fitted_link("--calibrate-allreduce", o.calibrate_allreduce, &n);
  StepModel fp32 = base;
  fp32.traffic.clear();  // the calibration run sent its buckets as they are
  fp32.compress_seconds = 0;
  return calibrate_sync_seconds(fp32, link, n, o.batch_size, o.calibrate_img_per_s);
}

// When each gradient is ready in backward: measured here at --batch-size with --threads, or
// taken from an earlier `forecast --json` of the same model and batch.
GradientTiming gradient_timing_of(const ForecastOptions& o) {
  GradientTiming t;
  if (!o.gradient_timing.empty()) {
    const nlohmann::json j = read_json_file(o.gradient_timing);
    try {
      RT_CHECK_USER(j.at("model") == o.model && j.at("batch_per_worker") == o.batch_size,
                    "it is of {} at batch {}, not {} at batch {}", j.at("model").dump(),
                    j.at("batch_per_worker").dump(), o.model, o.batch_size);
      t.ready = j.at("gradient_timing").at("ready").get<std::vector<double>>();
      t.backward_share = j.at("gradient_timing").at("backward_share").get<double>();
      return t;
    } catch (const std::exception& e) {
      throw UserError(
          fmt::format("--gradient-timing {}: not a `ringtrain forecast --json` output of this model "
                      "and batch ({})",
                      o.gradient_timing, e.what()));
    }
  }
  set_compute_threads(o.threads);
  StepBenchSpec s;
  s.model = o.model;
  s.batch_size = o.batch_size;
  s.warmup = 1;
  s.reps = 1;
  s.steps = 3;
  return bench_gradient_timing(s);
}

int run_forecast(const ForecastOptions& o) {
  check_model_name(o.model);
  RT_CHECK_USER(o.compute_images_per_second > 0 && std::isfinite(o.compute_images_per_second),
                "--compute-img-per-s must be one worker's measured training speed (img/s), got {}",
                o.compute_images_per_second);
  RT_CHECK_USER(!o.nproc.empty() && o.nproc.front() >= 1, "--nproc needs world sizes, e.g. 1,2");
  const GradCompression compression = GradCompression::parse(o.compression);
  const LinkModel link = link_of(o);
  const GradientBuckets g = gradient_buckets(o.model, o.bucket_mb * 1024 * 1024, compression);
  StepModel m;
  m.compute_points = {
      {static_cast<double>(o.batch_size), static_cast<double>(o.batch_size) / o.compute_images_per_second}};
  m.bucket_bytes = g.bytes;
  m.traffic = g.traffic;
  const GradientTiming timing = gradient_timing_of(o);
  m.backward_share = timing.backward_share;
  m.bucket_ready = bucket_readiness(g.param_bytes, timing.ready, o.bucket_mb * 1024 * 1024);
  if (compression.lossy()) {
    if (o.compress_ms >= 0) {
      m.compress_seconds = o.compress_ms / 1e3;
    } else {
      set_compute_threads(o.threads);
      StepBenchSpec s;
      s.model = o.model;
      s.warmup = 1;
      s.reps = 3;
      s.steps = 2;
      m.compress_seconds =
          1.0 / bench_compression(s, compression, static_cast<int64_t>(o.bucket_mb * 1024 * 1024)).median();
    }
  }
  m.sync_seconds = sync_seconds_of(o, m);
  const auto rows = project(m, link, o.nproc, o.batch_size, /*weak=*/true);
  nlohmann::json j = {
      {"model", o.model},
      {"batch_per_worker", o.batch_size},
      {"compute_images_per_second", o.compute_images_per_second},
      {"compression", compression.name()},
      {"compress_seconds", m.compress_seconds},
      {"sync_seconds", m.sync_seconds},
      {"buckets", g.bytes.size()},
      {"gradient_timing", {{"ready", timing.ready}, {"backward_share", timing.backward_share}}},
      {"bucket_ready", m.bucket_ready},
      {"link", {{"name", link.name}, {"alpha_seconds", link.alpha}, {"beta_bytes_per_second", link.beta}}},
      {"rows", nlohmann::json::array()}};
  for (const auto& r : rows) j["rows"].push_back(r.to_json());
  if (o.json) {
    print_line(j.dump(2));
    return 0;
  }
  print_line(
      fmt::format("{} at {} images per worker, {:.1f} img/s per worker; --grad-compression {} ({:.1f} ms per "
                  "step); lock-step cost {:.1f} ms per step; link {} (latency {:.1f} us per hop, {:.3f} GB/s)",
                  o.model, o.batch_size, o.compute_images_per_second, compression.name(), 1e3 * m.compress_seconds,
                  1e3 * m.sync_seconds, link.name, link.alpha * 1e6, link.beta / 1e9));
  print_line(fmt::format("{:>8} {:>12} {:>12} {:>12} {:>10} {:>9} {:>11}", "workers", "compute ms", "comm ms",
                         "exposed ms", "img/s", "speedup", "efficiency"));
  for (const auto& r : rows) {
    print_line(fmt::format("{:>8} {:>12.1f} {:>12.1f} {:>12.1f} {:>10.1f} {:>8.2f}x {:>10.0f}%", r.workers,
                           1e3 * r.compute_seconds, 1e3 * r.comm_seconds, 1e3 * r.exposed_seconds, r.images_per_second,
                           r.speedup, 100 * r.efficiency));
  }
  return 0;
}

}  // namespace

CommandRunner add_forecast_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("forecast", "The step-time model alone, from given measurements (weak scaling)");
  auto o = std::make_shared<ForecastOptions>();
  auto flags = std::make_shared<SharedFlags>(cmd);  // the flags it shares with `train` (cli/options.h)
  flags->add("model", o->model);
  flags->add("batch_size", o->batch_size, "Images per worker per step");
  cmd->add_option("--nproc", o->nproc, "World sizes to forecast")->delimiter(',')->capture_default_str();
  cmd->add_option("--compute-img-per-s", o->compute_images_per_second,
                  "One worker's measured training speed at --batch-size (img/s)")
      ->required();
  cmd->add_option("--allreduce", o->allreduce, "The link: a `ringtrain bench --allreduce --json` output to fit");
  cmd->add_option("--link-gbps", o->link_gbps, "The link instead: bandwidth in Gbit/s");
  cmd->add_option("--link-latency-us", o->link_latency_us, "... and latency per hop in microseconds")
      ->capture_default_str();
  flags->add("grad_compression", o->compression, "none | bf16 | fp16 | powersgd:R");
  cmd->add_option("--compress-ms", o->compress_ms,
                  "Compressing and decompressing a step's buckets, ms (default: measured here)");
  flags->add("bucket_mb", o->bucket_mb);
  cmd->add_option("--sync-ms", o->sync_ms,
                  "The per-step cost of keeping workers in lock-step that the other terms miss, ms")
      ->capture_default_str();
  cmd->add_option("--calibrate-img-per-s", o->calibrate_img_per_s,
                  "Calibrate that cost instead: a measured run's img/s (all workers, fp32, --batch-size each) ...");
  cmd->add_option("--calibrate-allreduce", o->calibrate_allreduce,
                  "... over the link of this `bench --allreduce --json` output (its world size is the run's)");
  cmd->add_option("--gradient-timing", o->gradient_timing,
                  "Reuse the gradient timing of an earlier `forecast --json` output (default: measured here)");
  flags->add("threads", o->threads, "Threads for measuring the compression and the gradient timing");
  cmd->add_flag("--json", o->json, "Print one JSON object");
  cmd->footer(
      "Example:\n"
      "  ringtrain bench --allreduce --nproc 2 --json > link.json\n"
      "  ringtrain forecast --model resnet18 --batch-size 32 --compute-img-per-s 57 --allreduce link.json "
      "--grad-compression powersgd:4");
  return [o, flags] {
    flags->check();
    return run_forecast(*o);
  };
}

}  // namespace rt
