#include "measure/scale_study.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>
#include <sstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/self_exec.h"
#include "model/registry.h"
#include "report/records.h"
#include "report/writers.h"

namespace rt {

namespace {

void check_options(const ScaleStudyOptions& o, const std::vector<std::string>& train_args) {
  RT_CHECK_USER(!o.nproc.empty(), "--nproc needs a list of world sizes, e.g. 1,2");
  RT_CHECK_USER(o.nproc.front() == 1, "--nproc must start with 1 (the baseline of speedup), e.g. 1,2,4");
  for (size_t i = 0; i < o.nproc.size(); ++i) {
    RT_CHECK_USER(o.nproc[i] >= 1 && o.nproc[i] <= 1024 && (i == 0 || o.nproc[i] > o.nproc[i - 1]),
                  "--nproc must be increasing world sizes in 1..1024, e.g. 1,2,4");
    RT_CHECK_USER(o.weak || o.batch_size % o.nproc[i] == 0,
                  "strong scaling splits the global --batch-size {} over {} workers: pick a batch "
                  "size divisible by every world size, or use --weak",
                  o.batch_size, o.nproc[i]);
  }
  RT_CHECK_USER(o.threads >= 1, "--threads (per worker) must be at least 1, got {}", o.threads);
  RT_CHECK_USER(o.rounds >= 1 && o.rounds <= 100, "--rounds must be in 1..100, got {}", o.rounds);
  for (const auto& a : train_args) {
    for (const char* own : {"--nproc", "--batch-size", "--threads", "--out", "--resume", "--max-restarts"}) {
      RT_CHECK_USER(a != own && a.rfind(std::string(own) + "=", 0) != 0,
                    "{} is set by `ringtrain scale` for each run; give it to scale (before --), not "
                    "to the training flags",
                    own);
    }
  }
  for (const auto& l : o.links) {
    if (l != "fitted") link_preset(l);  // throws naming the known links
  }
}

// The JSON that `args` (a `ringtrain bench ... --json`) prints; `what` names it in errors.
nlohmann::json bench_json(const std::vector<std::string>& args, const std::string& what) {
  std::string out;
  const int rc = run_self(args, &out);
  RT_CHECK_USER(rc == 0, "the {} ({}) failed with exit code {}", what, fmt::join(args, " "), rc);
  try {
    return nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("the {} printed no valid JSON ({})", what, e.what()));
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// One training run of `n` workers in `dir`: its last epoch.
MeasuredRun measure_run(const ScaleResult& r, const std::string& self, int64_t n, const std::string& dir,
                        nlohmann::json& config) {
  const ScaleStudyOptions& o = r.options;
  const int64_t b = o.weak ? o.batch_size : o.batch_size / n;
  std::vector<std::string> args = {self, "train"};
  args.insert(args.end(), r.train_args.begin(), r.train_args.end());
  args.insert(args.end(), {"--nproc", std::to_string(n), "--batch-size", std::to_string(b), "--threads",
                           std::to_string(o.threads), "--out", dir});
  print_line(fmt::format("== scale: {} worker{} x batch {} ({} scaling), {} thread{} each -> {}", n, n > 1 ? "s" : "",
                         b, o.weak ? "weak" : "strong", o.threads, o.threads > 1 ? "s" : "", dir));
  const int rc = run_self(args);
  RT_CHECK_USER(rc == 0, "the {}-worker run failed with exit code {}; see its output above", n, rc);
  const auto history = read_history_file(dir + "/history.json");
  config = read_json_file(dir + "/config.json");
  RT_CHECK_USER(!history.empty(), "{}/history.json has no epochs", dir);
  const EpochRecord& last = history.back();  // the last epoch: start-up costs are in the first
  MeasuredRun m;
  m.workers = n;
  m.batch_per_worker = b;
  m.global_batch = last.global_batch;
  m.steps_per_epoch = config.at("environment").at("steps_per_epoch").get<int64_t>();
  m.epoch_train_seconds = last.train_seconds;
  m.images_per_second = last.images_per_second;
  m.exposed_comm_share = last.comm.exposed_comm_share;
  m.overlap_share = last.comm.overlap_share;
  m.compute_seconds_per_step = last.comm.compute_seconds_per_step;
  m.allreduce_seconds_per_step = last.comm.allreduce_seconds_per_step;
  m.bytes_allreduced_per_step = last.comm.bytes_allreduced_per_step;
  return m;
}

// --- the runs: every world size once per round, alternating, each run in its own folder
//     (n<N>/round<K>); returns the first run's config.
nlohmann::json measure_runs(ScaleResult& r, const std::string& self) {
  const ScaleStudyOptions& o = r.options;
  nlohmann::json first_config, config;
  std::vector<std::vector<MeasuredRun>> runs(o.nproc.size());  // [world size][round]
  for (int64_t round = 1; round <= o.rounds; ++round) {
    for (size_t i = 0; i < o.nproc.size(); ++i) {
      const std::string dir = fmt::format("{}/n{}/round{}", o.out, o.nproc[i], round);
      runs[i].push_back(measure_run(r, self, o.nproc[i], dir, config));
      if (first_config.is_null()) first_config = config;  // model, bucket cap, precision: the same in every run
    }
  }
  for (size_t i = 0; i < o.nproc.size(); ++i) {
    MeasuredRun m = runs[i].front();
    auto med = [&](double MeasuredRun::*field) {
      std::vector<double> v;
      for (const auto& x : runs[i]) v.push_back(x.*field);
      return median(v);
    };
    for (double MeasuredRun::*field :
         {&MeasuredRun::epoch_train_seconds, &MeasuredRun::images_per_second, &MeasuredRun::exposed_comm_share,
          &MeasuredRun::overlap_share, &MeasuredRun::compute_seconds_per_step, &MeasuredRun::allreduce_seconds_per_step,
          &MeasuredRun::bytes_allreduced_per_step}) {
      m.*field = med(field);
    }
    std::vector<double> speedups;  // each round against the same round's 1-worker run
    for (size_t k = 0; k < runs[i].size(); ++k) {
      m.round_images_per_second.push_back(runs[i][k].images_per_second);
      speedups.push_back(runs[i][k].images_per_second / runs[0][k].images_per_second);
    }
    m.speedup = median(speedups);
    m.speedup_min = *std::min_element(speedups.begin(), speedups.end());
    m.speedup_max = *std::max_element(speedups.begin(), speedups.end());
    m.efficiency = m.speedup / static_cast<double>(m.workers);
    r.measured.push_back(m);
  }
  return first_config;
}

// --- the model's inputs: gradient buckets, and compute per step as a function of the batch
//     per worker: single-process step benchmarks at each batch per worker of the runs, scaled
//     by how much slower the real 1-worker training step was than the benchmark (data, checks,
//     logging); interpolated in between.
void calibrate_compute(ScaleResult& r, const nlohmann::json& first_config, const std::string& self) {
  const ScaleStudyOptions& o = r.options;
  r.model = first_config.at("model").get<std::string>();
  r.sync_bn = first_config.value("sync_bn", false);
  const double cap = first_config.at("bucket_mb").get<double>() * 1024 * 1024;
  // What the buckets send with the runs' --grad-compression (PowerSGD: after its warm-up).
  GradCompression compression = GradCompression::parse(first_config.value("grad_compression", "none"));
  r.compression = compression.name();
  const GradientBuckets grads = gradient_buckets(r.model, cap, compression);
  r.step_model.bucket_bytes = grads.bytes;
  r.step_model.traffic = grads.traffic;
  r.batchnorm = grads.batchnorm;
  r.gradient_bytes = grads.total_bytes;
  if (compression.lossy()) {  // its own compute: compressing and decompressing a step's buckets
    print_line(fmt::format("== scale: compression benchmark, {}", r.compression));
    const auto j = bench_json({self, "bench", "--mode", "compress", "--model", r.model, "--grad-compression",
                               r.compression, "--bucket-mb", fmt::format("{}", cap / (1024 * 1024)), "--threads",
                               std::to_string(o.threads), "--warmup", "1", "--reps", "3", "--steps", "2", "--json"},
                              "compression benchmark");
    r.step_model.compress_seconds = j.at("results").at(0).at("seconds_per_step").get<double>();
  }
  std::vector<int64_t> batches;
  for (const auto& m : r.measured) batches.push_back(m.batch_per_worker);
  if (o.weak) batches.push_back(std::max<int64_t>(1, o.batch_size / 2));
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  const bool bf16 = first_config.at("environment").value("precision", "fp32") == "bf16";
  for (int64_t b : batches) {
    std::vector<std::string> args = {self,
                                     "bench",
                                     "--mode",
                                     "train",
                                     "--model",
                                     r.model,
                                     "--batch-size",
                                     std::to_string(b),
                                     "--threads",
                                     std::to_string(o.threads),
                                     "--warmup",
                                     "2",
                                     "--reps",
                                     "3",
                                     "--steps",
                                     "3",
                                     "--json",
                                     "--amp",
                                     bf16 ? "bf16" : "none"};
    if (first_config.value("channels_last", false)) args.push_back("--channels-last");
    print_line(fmt::format("== scale: single-process step benchmark, batch {}", b));
    const auto j = bench_json(args, "step benchmark");
    r.bench_step_seconds[b] =
        static_cast<double>(b) / j.at("results").at(0).at("images_per_second").at("median").get<double>();
  }
  // The real 1-worker step is the reference; other batch sizes scale with the benchmark.
  const MeasuredRun& base = r.measured.front();
  const double real_step = base.epoch_train_seconds / static_cast<double>(base.steps_per_epoch);
  r.real_over_bench = real_step / r.bench_step_seconds.at(base.batch_per_worker);
  for (const auto& [b, t] : r.bench_step_seconds) {
    r.step_model.compute_points.emplace_back(static_cast<double>(b), t * r.real_over_bench);
  }
  r.step_model.overlap = unmeasured_overlap(r.step_model.bucket_bytes.size());
  // When each bucket can start: the gradients' readiness in backward, measured at the base batch.
  print_line(fmt::format("== scale: gradient timing, batch {}", base.batch_per_worker));
  const auto t = bench_json({self, "bench", "--mode", "timing", "--model", r.model, "--batch-size",
                             std::to_string(base.batch_per_worker), "--threads", std::to_string(o.threads), "--warmup",
                             "1", "--reps", "1", "--steps", "3", "--json", "--amp", bf16 ? "bf16" : "none"},
                            "gradient timing")
                     .at("results")
                     .at(0);
  r.step_model.backward_share = t.at("backward_share").get<double>();
  r.step_model.bucket_ready = bucket_readiness(grads.param_bytes, t.at("ready").get<std::vector<double>>(), cap);
}

// --- the link: allreduce over as many ranks as the largest run (at least 2), fitted.
void measure_link(ScaleResult& r, const std::string& self) {
  const ScaleStudyOptions& o = r.options;
  r.allreduce_ranks = std::max<int64_t>(2, o.nproc.back());
  int64_t max_size = 4096;
  while (static_cast<double>(max_size) < r.gradient_bytes) max_size *= 4;
  print_line(fmt::format("== scale: allreduce over {} ranks, 4 KB .. {} MB", r.allreduce_ranks, max_size >> 20));
  r.allreduce = bench_json({self, "bench", "--allreduce", "--nproc", std::to_string(r.allreduce_ranks), "--threads",
                            std::to_string(o.threads), "--max-size", std::to_string(max_size), "--iters",
                            std::to_string(o.allreduce_iters), "--warmup", "2", "--json"},
                           "allreduce measurement");
  r.fitted = fit_link_to_allreduce(r.allreduce);
}

// Note [Projection flags]: a projected row is flagged, not hidden, when (1) its batch per worker
// is below every measured step (compute is then scaled per image from the smallest one), (2) a
// BatchNorm model would normalise over fewer than kBatchNormMinImages images (Wu and He, "Group
// Normalization", ECCV 2018, Fig. 1: ImageNet error rises steeply below 16 images per worker),
// or (3) its efficiency is above 100%: smaller batches can be cheaper per image on a CPU (cache
// reuse), which says nothing about scaling. scale.md marks them e, bn and s.
constexpr int64_t kBatchNormMinImages = 16;

// --- validation (predictions for the measured world sizes) and projection over the links.
void validate_and_project(ScaleResult& r) {
  const ScaleStudyOptions& o = r.options;
  std::vector<int64_t> measured_n;
  for (const auto& m : r.measured) measured_n.push_back(m.workers);
  const auto predicted = project(r.step_model, r.fitted, measured_n, o.batch_size, o.weak);
  for (size_t i = 0; i < r.measured.size(); ++i) {
    r.validation.push_back({r.measured[i].workers, r.measured[i].images_per_second, predicted[i].images_per_second,
                            r.measured[i].speedup, predicted[i].speedup});
  }
  std::vector<LinkModel> links;
  for (const auto& l : o.links) links.push_back(l == "fitted" ? r.fitted : link_preset(l));
  if (o.link_gbps > 0) {
    links.push_back(link_of_rate(o.link_gbps, o.link_latency_us));
  }
  r.projected_model = r.step_model;
  if (o.compute_images_per_second > 0) r.projected_model.compute_points = {{1.0, 1.0 / o.compute_images_per_second}};
  std::vector<int64_t> project_to;
  for (int64_t n : o.project_to) {
    if (o.weak || n <= o.batch_size) project_to.push_back(n);  // strong: at least 1 image per worker
  }
  // What a row's figures cannot be trusted for: compute below the smallest measured batch,
  // BatchNorm statistics over too few images, super-linear efficiency (Note [Projection flags]).
  double smallest = 0;
  for (const auto& [b, t] : r.projected_model.compute_points) smallest = smallest == 0 ? b : std::min(smallest, b);
  auto flag = [&](StepPrediction& x) {
    const int64_t b = o.weak ? o.batch_size : std::max<int64_t>(1, o.batch_size / x.workers);
    if (o.compute_images_per_second == 0 && static_cast<double>(b) < smallest) {
      x.flags.push_back(
          fmt::format("extrapolated: compute measured down to {:g} images per worker, scaled per image "
                      "below",
                      smallest));
    }
    const int64_t bn_images = r.sync_bn ? b * x.workers : b;
    if (r.batchnorm && bn_images < kBatchNormMinImages) {
      x.flags.push_back(
          fmt::format("BatchNorm over {} images{}: fewer than {}, its statistics are too noisy to train "
                      "as the measured runs did (--sync-bn, or fewer workers)",
                      bn_images, r.sync_bn ? " (--sync-bn)" : " per worker", kBatchNormMinImages));
    }
    if (x.efficiency > 1.0) {
      x.flags.push_back(
          "super-linear: compute per image is cheaper at this batch on the measured device; not a gain of scaling");
    }
  };
  for (const auto& link : links) {
    LinkProjection p{link, 0, project(r.projected_model, link, project_to, o.batch_size, o.weak)};
    for (auto& x : p.rows) flag(x);
    p.first_workers_below_90pct = first_inefficient(p.rows, 0.9);
    r.projection.push_back(std::move(p));
  }
}

std::string table_row(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells) s += " " + c + " |";
  return s + "\n";
}

}  // namespace

GradientBuckets gradient_buckets(const std::string& model_name, double cap_bytes, const GradCompression& compression) {
  auto model = make_model(model_name, 10, false);
  GradientBuckets g;
  for (const auto& m : model->modules(/*include_self=*/false))
    g.batchnorm = g.batchnorm || m->as<torch::nn::BatchNorm2dImpl>();
  std::vector<std::vector<int64_t>> param_shapes;
  for (const auto& p : trainable_parameters(*model)) {
    g.param_bytes.push_back(static_cast<double>(p.numel() * 4));
    param_shapes.push_back(p.sizes().vec());
  }
  g.bytes = bucket_sizes(g.param_bytes, cap_bytes);
  g.traffic = bucket_traffics(param_shapes, cap_bytes, compression);
  g.total_bytes = std::accumulate(g.param_bytes.begin(), g.param_bytes.end(), 0.0);
  return g;
}

ScaleResult run_scale_study(const ScaleStudyOptions& options, const std::vector<std::string>& train_args) {
  check_options(options, train_args);
  ScaleResult r;
  r.options = options;
  r.train_args = train_args;
  make_dirs(r.options.out);
  const std::string& self = r.options.program;
  const nlohmann::json first_config = measure_runs(r, self);
  calibrate_compute(r, first_config, self);
  measure_link(r, self);
  validate_and_project(r);
  return r;
}

void to_json(nlohmann::json& j, const MeasuredRun& m) {
  j = {{"workers", m.workers},
       {"batch_per_worker", m.batch_per_worker},
       {"global_batch", m.global_batch},
       {"steps_per_epoch", m.steps_per_epoch},
       {"epoch_train_seconds", m.epoch_train_seconds},
       {"images_per_second", m.images_per_second},
       {"speedup", m.speedup},
       {"efficiency", m.efficiency},
       {"exposed_comm_share", m.exposed_comm_share},
       {"overlap_share", m.overlap_share},
       {"compute_seconds_per_step", m.compute_seconds_per_step},
       {"allreduce_seconds_per_step", m.allreduce_seconds_per_step},
       {"bytes_allreduced_per_step", m.bytes_allreduced_per_step},
       {"round_images_per_second", m.round_images_per_second},
       {"speedup_min", m.speedup_min},
       {"speedup_max", m.speedup_max}};
}

nlohmann::json traffic_json(const std::vector<BucketTraffic>& traffic) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : traffic)
    out.push_back({{"during_backward", t.during_backward}, {"after_backward", t.after_backward}});
  return out;
}

void to_json(nlohmann::json& j, const ScaleResult& r) {
  const ScaleStudyOptions& o = r.options;
  nlohmann::json validation = nlohmann::json::array(), projection = nlohmann::json::array();
  for (const auto& v : r.validation) {
    validation.push_back({{"workers", v.workers},
                          {"measured_images_per_second", v.measured_images_per_second},
                          {"predicted_images_per_second", v.predicted_images_per_second},
                          {"measured_speedup", v.measured_speedup},
                          {"predicted_speedup", v.predicted_speedup},
                          {"error", v.error()}});
  }
  for (const auto& p : r.projection) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& x : p.rows) rows.push_back(x.to_json());
    projection.push_back({{"link", p.link.name},
                          {"alpha_seconds", p.link.alpha},
                          {"beta_bytes_per_second", p.link.beta},
                          {"first_workers_below_90pct", p.first_workers_below_90pct},
                          {"rows", rows}});
  }
  j = {{"schema_version", kScaleSchemaVersion},
       {"model", r.model},
       {"scaling", o.weak ? "weak" : "strong"},
       {"batch_size", o.batch_size},
       {"threads_per_worker", o.threads},
       {"rounds", o.rounds},
       {"train_args", r.train_args},
       {"measured", r.measured},
       {"allreduce", r.allreduce},
       {"link_fit",
        {{"ranks", r.allreduce_ranks}, {"alpha_seconds", r.fitted.alpha}, {"beta_bytes_per_second", r.fitted.beta}}},
       {"step_model",
        {{"compute_points_batch_seconds", r.step_model.compute_points},
         {"bench_step_seconds", r.bench_step_seconds},
         {"real_over_bench", r.real_over_bench},
         {"bucket_bytes", r.step_model.bucket_bytes},
         {"compression", r.compression},
         {"bucket_bytes_sent", traffic_json(r.step_model.traffic)},
         {"compress_seconds", r.step_model.compress_seconds},
         {"backward_share", r.step_model.backward_share},
         {"bucket_ready", r.step_model.bucket_ready}}},
       {"validation", validation},
       {"projection", projection}};
}

namespace {
std::vector<std::string> percents(const std::vector<double>& shares) {
  std::vector<std::string> out;
  for (const double x : shares) out.push_back(fmt::format("{:.0f}%", 100 * x));
  return out;
}
}  // namespace

std::string scale_markdown(const ScaleResult& r) {
  const ScaleStudyOptions& o = r.options;
  std::ostringstream md;
  md << fmt::format("# Scaling: {} ({} scaling, {} images per {}; {} thread{} per worker)\n\n", r.model,
                    o.weak ? "weak" : "strong", o.batch_size, o.weak ? "worker" : "step (global)", o.threads,
                    o.threads > 1 ? "s" : "");
  md << fmt::format(
            "## Measured ({} round{}, world sizes alternating; medians, the speedup's range over the rounds)\n\n",
            o.rounds, o.rounds > 1 ? "s" : "")
     << table_row({"workers", "batch/worker", "global batch", "epoch (train s)", "img/s", "speedup", "efficiency",
                   "exposed comm", "overlap"})
     << "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& m : r.measured) {
    const auto [lo, hi] = std::minmax_element(m.round_images_per_second.begin(), m.round_images_per_second.end());
    md << table_row({std::to_string(m.workers), std::to_string(m.batch_per_worker), std::to_string(m.global_batch),
                     fmt::format("{:.1f}", m.epoch_train_seconds),
                     o.rounds > 1 ? fmt::format("{:.1f} ({:.1f}-{:.1f})", m.images_per_second, *lo, *hi)
                                  : fmt::format("{:.1f}", m.images_per_second),
                     o.rounds > 1 ? fmt::format("{:.2f}x ({:.2f}-{:.2f})", m.speedup, m.speedup_min, m.speedup_max)
                                  : fmt::format("{:.2f}x", m.speedup),
                     fmt::format("{:.0f}%", 100 * m.efficiency), fmt::format("{:.1f}%", 100 * m.exposed_comm_share),
                     fmt::format("{:.0f}%", 100 * m.overlap_share)});
  }
  std::vector<std::string> points;
  for (const auto& [b, t] : r.step_model.compute_points)
    points.push_back(fmt::format("{:g} images {:.0f} ms", b, t * 1e3));
  double sent = 0;
  for (const auto& t : r.step_model.traffic) sent += t.during_backward + t.after_backward;
  md << fmt::format(
      "\n## Model\n\ncompute per step {} (step benchmarks at each batch per worker, "
      "scaled x{:.3f} to the 1-worker run's real step); {} gradient buckets, "
      "{:.1f} MB in all ({:.2f} MB sent per step with --grad-compression {}{}); allreduce over {} ranks fitted to "
      "alpha {:.1f} us per hop, beta {:.3f} GB/s per link; backward {:.0f}% of the step, buckets ready at {} of "
      "it.\n\n",
      fmt::join(points, ", "), r.real_over_bench, r.step_model.bucket_bytes.size(), r.gradient_bytes / 1e6, sent / 1e6,
      r.compression,
      r.compression == "none"
          ? ""
          : fmt::format(", compressing and decompressing {:.1f} ms per step", 1e3 * r.step_model.compress_seconds),
      r.allreduce_ranks, r.fitted.alpha * 1e6, r.fitted.beta / 1e9, 100 * r.step_model.backward_share,
      fmt::join(percents(r.step_model.bucket_ready), ", "));
  md << "## Validation (predicted from the 1-worker run and the allreduce measurement)\n\n"
     << table_row({"workers", "measured img/s", "predicted img/s", "error", "measured speedup", "predicted speedup"})
     << "|---|---|---|---|---|---|\n";
  for (const auto& v : r.validation) {
    md << table_row({std::to_string(v.workers), fmt::format("{:.1f}", v.measured_images_per_second),
                     fmt::format("{:.1f}", v.predicted_images_per_second), fmt::format("{:+.1f}%", 100 * v.error()),
                     fmt::format("{:.2f}x", v.measured_speedup), fmt::format("{:.2f}x", v.predicted_speedup)});
  }
  md << fmt::format(
      "\n## Projection ({} scaling, compute {:.0f} img/s per worker{})\n\n", o.weak ? "weak" : "strong",
      static_cast<double>(o.batch_size) / compute_seconds(r.projected_model, static_cast<double>(o.batch_size)),
      o.compute_images_per_second > 0 ? ", given" : ", measured");
  for (const auto& p : r.projection) {
    md << fmt::format("### {} (latency {:.1f} us, {:.2f} GB/s per link){}\n\n", p.link.name, p.link.alpha * 1e6,
                      p.link.beta / 1e9,
                      p.first_workers_below_90pct
                          ? fmt::format(": efficiency falls below 90% from {} workers", p.first_workers_below_90pct)
                          : ": efficiency stays above 90%");
    md << table_row({"workers", "batch/worker", "compute ms", "allreduce ms", "exposed ms", "img/s", "speedup",
                     "efficiency", "flags"})
       << "|---|---|---|---|---|---|---|---|---|\n";
    bool any_flag = false;
    for (const auto& x : p.rows) {
      const int64_t b = o.weak ? o.batch_size : std::max<int64_t>(1, o.batch_size / x.workers);
      std::vector<std::string> codes;
      for (const auto& f : x.flags)
        codes.push_back(f.rfind("extrap", 0) == 0 ? "e" : f.rfind("Batch", 0) == 0 ? "bn" : "s");
      any_flag = any_flag || !codes.empty();
      md << table_row({std::to_string(x.workers), std::to_string(b), fmt::format("{:.1f}", 1e3 * x.compute_seconds),
                       fmt::format("{:.1f}", 1e3 * x.comm_seconds), fmt::format("{:.1f}", 1e3 * x.exposed_seconds),
                       fmt::format("{:.0f}", x.images_per_second), fmt::format("{:.1f}x", x.speedup),
                       fmt::format("{:.0f}%", 100 * x.efficiency), fmt::format("{}", fmt::join(codes, " "))});
    }
    if (any_flag) {
      md << "\nflags: e = compute extrapolated below the smallest measured batch; bn = BatchNorm over fewer than "
         << kBatchNormMinImages
         << " images, too noisy to train as measured; s = super-linear, a cheaper small batch on this device, not "
            "a gain of scaling\n";
    }
    md << "\n";
  }
  return md.str();
}

}  // namespace rt
