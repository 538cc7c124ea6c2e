// `ringtrain scale`: measured scaling. Runs the same training for each world size (strong
// scaling: fixed global batch; --weak: fixed batch per worker), measures allreduce over the
// same ranks, and writes a table and JSON: time per epoch, images/s, speedup, parallel
// efficiency, exposed communication and overlap. Then calibrates the step-time model
// (bench/scaling.h) on the 1-worker run and the allreduce measurement, checks it against the
// measured multi-worker runs, and projects it to large clusters over chosen links.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <numeric>
#include <sstream>

#include <fmt/ranges.h>

#include "bench/scaling.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "model/registry.h"
#include "report/records.h"
#include "report/writers.h"
#include "train/run_outputs.h"

namespace rt {

namespace {

struct ScaleOptions {
  std::vector<int64_t> nproc = {1, 2};
  bool weak = false;
  int64_t batch_size = 128;  // global (strong) or per worker (weak)
  int64_t threads = 1;       // per worker
  std::string out;
  std::vector<int64_t> project_to = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  std::vector<std::string> links = {"fitted", "nvlink", "ib", "100gbe", "10gbe"};
  double link_gbps = 0, link_latency_us = 5;
  double compute_images_per_second = 0;  // per worker, for projecting another device
  int64_t allreduce_iters = 5;
};

// Runs this binary with `args` and returns its exit code (128 + signal when killed). With
// `captured`, its standard output is collected there; otherwise it passes through.
int run_self(const std::vector<std::string>& args, std::string* captured = nullptr) {
  int fds[2] = {-1, -1};
  if (captured) RT_CHECK_USER(pipe(fds) == 0, "cannot create a pipe: {}", std::strerror(errno));
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  RT_CHECK_USER(pid >= 0, "cannot start a run: {}", std::strerror(errno));
  if (pid == 0) {
    if (captured) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
    }
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  if (captured) {
    close(fds[1]);
    char buf[4096];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      captured->append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

struct Measured {
  int64_t workers = 0, batch_per_worker = 0, global_batch = 0, steps = 0;
  double epoch_seconds = 0, images_per_second = 0, exposed_share = 0, overlap_share = 0;
  double compute_per_step = 0, allreduce_per_step = 0, bytes_per_step = 0;
  double speedup = 1, efficiency = 1;
  nlohmann::json to_json() const {
    return {{"workers", workers},
            {"batch_per_worker", batch_per_worker},
            {"global_batch", global_batch},
            {"steps_per_epoch", steps},
            {"epoch_train_seconds", epoch_seconds},
            {"images_per_second", images_per_second},
            {"speedup", speedup},
            {"efficiency", efficiency},
            {"exposed_comm_share", exposed_share},
            {"overlap_share", overlap_share},
            {"compute_seconds_per_step", compute_per_step},
            {"allreduce_seconds_per_step", allreduce_per_step},
            {"bytes_allreduced_per_step", bytes_per_step}};
  }
};

std::string table_row(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells) s += " " + c + " |";
  return s;
}

int run_scale(const ScaleOptions& o, const std::vector<std::string>& train_args) {
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
  for (const auto& a : train_args) {
    for (const char* own : {"--nproc", "--batch-size", "--threads", "--out", "--resume", "--max-restarts"}) {
      RT_CHECK_USER(a != own && a.rfind(std::string(own) + "=", 0) != 0,
                    "{} is set by `ringtrain scale` for each run; give it to scale (before --), not "
                    "to the training flags", own);
    }
  }
  const std::string out = !o.out.empty() ? o.out : default_run_dir() + "-scale";
  make_dirs(out);
  const std::string self = process_argv().at(0);

  // --- the runs
  std::vector<Measured> runs;
  nlohmann::json first_config;
  for (int64_t n : o.nproc) {
    const int64_t b = o.weak ? o.batch_size : o.batch_size / n;
    const std::string dir = fmt::format("{}/n{}", out, n);
    std::vector<std::string> args = {self, "train"};
    args.insert(args.end(), train_args.begin(), train_args.end());
    args.insert(args.end(), {"--nproc", std::to_string(n), "--batch-size", std::to_string(b), "--threads",
                             std::to_string(o.threads), "--out", dir});
    print_line(fmt::format("== scale: {} worker{} x batch {} ({} scaling), {} thread{} each -> {}", n,
                           n > 1 ? "s" : "", b, o.weak ? "weak" : "strong", o.threads, o.threads > 1 ? "s" : "", dir));
    const int rc = run_self(args);
    if (rc != 0) {
      throw UserError(fmt::format("the {}-worker run failed with exit code {}; see its output above", n, rc));
    }
    const auto history = read_history_file(dir + "/history.json");
    const auto config = read_json_file(dir + "/config.json");
    RT_CHECK_USER(!history.empty(), "{}/history.json has no epochs", dir);
    const EpochRecord& last = history.back();  // the last epoch: start-up costs are in the first
    Measured m;
    m.workers = n;
    m.batch_per_worker = b;
    m.global_batch = last.global_batch;
    m.steps = config.at("environment").at("steps_per_epoch").get<int64_t>();
    m.epoch_seconds = last.train_seconds;
    m.images_per_second = last.images_per_second;
    m.exposed_share = last.comm.exposed_comm_share;
    m.overlap_share = last.comm.overlap_share;
    m.compute_per_step = last.comm.compute_seconds_per_step;
    m.allreduce_per_step = last.comm.allreduce_seconds_per_step;
    m.bytes_per_step = last.comm.bytes_allreduced_per_step;
    if (runs.empty()) first_config = config;  // model, bucket cap, precision: the same in every run
    runs.push_back(m);
  }
  for (auto& m : runs) {
    m.speedup = m.images_per_second / runs.front().images_per_second;
    m.efficiency = m.speedup / static_cast<double>(m.workers);
  }

  // --- the model's inputs: gradient buckets, compute per step (1 worker), link (allreduce)
  const std::string model_name = first_config.at("model").get<std::string>();
  const double bucket_mb = first_config.at("bucket_mb").get<double>();
  auto model = make_model(model_name, 10, false);
  std::vector<double> param_bytes;
  for (const auto& p : model->parameters()) param_bytes.push_back(static_cast<double>(p.numel() * 4));
  StepModel sm;  // compute points filled below
  sm.bucket_bytes = bucket_sizes(param_bytes, bucket_mb * 1024 * 1024);
  const double grad_bytes = std::accumulate(param_bytes.begin(), param_bytes.end(), 0.0);
  // Compute per step as a function of the batch per worker: single-process step benchmarks
  // at each batch per worker of the runs, scaled by how much slower the real 1-worker
  // training step was than the benchmark (data, checks, logging); interpolated in between.
  const Measured& base = runs.front();
  std::vector<int64_t> batches;
  for (const auto& m : runs) batches.push_back(m.batch_per_worker);
  if (o.weak) batches.push_back(std::max<int64_t>(1, o.batch_size / 2));
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  std::map<int64_t, double> bench_step;  // batch -> seconds per step
  for (int64_t b : batches) {
    std::vector<std::string> args = {self, "bench", "--mode", "train", "--model", model_name, "--batch-size",
                                     std::to_string(b), "--threads", std::to_string(o.threads), "--warmup", "2",
                                     "--reps", "3", "--steps", "3", "--json", "--amp",
                                     first_config.at("environment").value("precision", "fp32") == "bf16" ? "bf16" : "none"};
    if (first_config.value("channels_last", false)) args.push_back("--channels-last");
    print_line(fmt::format("== scale: single-process step benchmark, batch {}", b));
    const auto r = bench_json(args, "step benchmark");
    bench_step[b] = static_cast<double>(b) / r.at("results").at(0).at("images_per_second").at("median").get<double>();
  }
  // The real 1-worker step is the reference; other batch sizes scale with the benchmark.
  const double real_step = base.epoch_seconds / static_cast<double>(base.steps);
  const double overhead = real_step / bench_step.at(base.batch_per_worker);
  for (const auto& [b, t] : bench_step) sm.compute_points.emplace_back(static_cast<double>(b), t * overhead);
  sm.overlap = sm.bucket_bytes.size() > 1 ? 1.0 - 1.0 / static_cast<double>(sm.bucket_bytes.size()) : 0.0;

  const int64_t ar_ranks = std::max<int64_t>(2, o.nproc.back());
  int64_t max_size = 4096;
  while (static_cast<double>(max_size) < grad_bytes) max_size *= 4;
  print_line(fmt::format("== scale: allreduce over {} ranks, 4 KB .. {} MB", ar_ranks, max_size >> 20));
  const auto ar = bench_json(
      {self, "bench", "--allreduce", "--nproc", std::to_string(ar_ranks), "--threads", std::to_string(o.threads),
       "--max-size", std::to_string(max_size), "--iters", std::to_string(o.allreduce_iters), "--warmup", "2", "--json"},
      "allreduce measurement");
  std::vector<std::pair<double, double>> points;
  for (const auto& r : ar.at("rows")) points.emplace_back(r.at("bytes").get<double>(), r.at("seconds").get<double>());
  const LinkModel fitted = fit_link(points, ar_ranks);

  // --- validation: predictions for the measured world sizes from the 1-worker run + link
  nlohmann::json validation = nlohmann::json::array();
  std::vector<int64_t> measured_n;
  for (const auto& m : runs) measured_n.push_back(m.workers);
  const auto predicted = project(sm, fitted, measured_n, o.batch_size, o.weak);
  for (size_t i = 0; i < runs.size(); ++i) {
    validation.push_back({{"workers", runs[i].workers},
                          {"measured_images_per_second", runs[i].images_per_second},
                          {"predicted_images_per_second", predicted[i].images_per_second},
                          {"measured_speedup", runs[i].speedup},
                          {"predicted_speedup", predicted[i].speedup},
                          {"error", predicted[i].images_per_second / runs[i].images_per_second - 1}});
  }

  // --- projection
  std::vector<LinkModel> links;
  for (const auto& l : o.links) links.push_back(l == "fitted" ? fitted : link_preset(l));
  if (o.link_gbps > 0) links.push_back({o.link_latency_us * 1e-6, o.link_gbps * 1e9 / 8, fmt::format("{:g}Gbps", o.link_gbps)});
  StepModel projected_model = sm;
  if (o.compute_images_per_second > 0) projected_model.compute_points = {{1.0, 1.0 / o.compute_images_per_second}};
  nlohmann::json projection = nlohmann::json::array();

  // --- report
  std::ostringstream md;
  md << fmt::format("# Scaling: {} ({} scaling, {} images per {}; {} thread{} per worker)\n\n", model_name,
                    o.weak ? "weak" : "strong", o.batch_size, o.weak ? "worker" : "step (global)", o.threads,
                    o.threads > 1 ? "s" : "");
  md << "## Measured\n\n";
  md << table_row({"workers", "batch/worker", "global batch", "epoch (train s)", "img/s", "speedup", "efficiency",
                   "exposed comm", "overlap"}) << "\n";
  md << "|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& m : runs) {
    md << table_row({std::to_string(m.workers), std::to_string(m.batch_per_worker), std::to_string(m.global_batch),
                     fmt::format("{:.1f}", m.epoch_seconds), fmt::format("{:.1f}", m.images_per_second),
                     fmt::format("{:.2f}x", m.speedup), fmt::format("{:.0f}%", 100 * m.efficiency),
                     fmt::format("{:.1f}%", 100 * m.exposed_share), fmt::format("{:.0f}%", 100 * m.overlap_share)})
       << "\n";
  }
  std::vector<std::string> point_text;
  for (const auto& [b, t] : sm.compute_points) point_text.push_back(fmt::format("{:g} images {:.0f} ms", b, t * 1e3));
  md << fmt::format("\n## Model\n\ncompute per step {} (step benchmarks at each batch per worker, "
                    "scaled x{:.3f} to the 1-worker run's real step); {} gradient buckets, "
                    "{:.1f} MB in all; allreduce over {} ranks fitted to alpha {:.1f} us per hop, beta {:.3f} GB/s "
                    "per link; overlap window {:.0f}% of backward.\n\n",
                    fmt::format("{}", fmt::join(point_text, ", ")), overhead, sm.bucket_bytes.size(), grad_bytes / 1e6, ar_ranks, fitted.alpha * 1e6,
                    fitted.beta / 1e9, 100 * sm.overlap);
  md << "## Validation (predicted from the 1-worker run and the allreduce measurement)\n\n";
  md << table_row({"workers", "measured img/s", "predicted img/s", "error", "measured speedup", "predicted speedup"}) << "\n";
  md << "|---|---|---|---|---|---|\n";
  for (const auto& v : validation) {
    md << table_row({std::to_string(v["workers"].get<int64_t>()),
                     fmt::format("{:.1f}", v["measured_images_per_second"].get<double>()),
                     fmt::format("{:.1f}", v["predicted_images_per_second"].get<double>()),
                     fmt::format("{:+.1f}%", 100 * v["error"].get<double>()),
                     fmt::format("{:.2f}x", v["measured_speedup"].get<double>()),
                     fmt::format("{:.2f}x", v["predicted_speedup"].get<double>())})
       << "\n";
  }
  md << fmt::format("\n## Projection ({} scaling, compute {:.0f} img/s per worker{})\n\n", o.weak ? "weak" : "strong",
                    static_cast<double>(o.batch_size) / compute_seconds(projected_model, static_cast<double>(o.batch_size)),
                    o.compute_images_per_second > 0 ? ", given" : ", measured");
  std::vector<int64_t> project_to;
  for (int64_t n : o.project_to) {
    if (o.weak || n <= o.batch_size) project_to.push_back(n);  // strong: at least 1 image per worker
  }
  for (const auto& link : links) {
    const auto p = project(projected_model, link, project_to, o.batch_size, o.weak);
    const int64_t knee = first_inefficient(p, 0.9);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& x : p) rows.push_back(x.to_json());
    projection.push_back({{"link", link.name}, {"alpha_seconds", link.alpha}, {"beta_bytes_per_second", link.beta},
                          {"first_workers_below_90pct", knee}, {"rows", rows}});
    md << fmt::format("### {} (latency {:.1f} us, {:.2f} GB/s per link){}\n\n", link.name, link.alpha * 1e6,
                      link.beta / 1e9,
                      knee ? fmt::format(": efficiency falls below 90% from {} workers", knee)
                           : ": efficiency stays above 90%");
    md << table_row({"workers", "batch/worker", "compute ms", "allreduce ms", "exposed ms", "img/s", "speedup",
                     "efficiency"}) << "\n|---|---|---|---|---|---|---|---|\n";
    for (const auto& x : p) {
      const int64_t b = o.weak ? o.batch_size : std::max<int64_t>(1, o.batch_size / x.workers);
      md << table_row({std::to_string(x.workers), std::to_string(b), fmt::format("{:.1f}", 1e3 * x.compute_seconds),
                       fmt::format("{:.1f}", 1e3 * x.comm_seconds), fmt::format("{:.1f}", 1e3 * x.exposed_seconds),
                       fmt::format("{:.0f}", x.images_per_second), fmt::format("{:.1f}x", x.speedup),
                       fmt::format("{:.0f}%", 100 * x.efficiency)})
         << "\n";
    }
    md << "\n";
  }
  nlohmann::json j = {{"model", model_name},
                      {"scaling", o.weak ? "weak" : "strong"},
                      {"batch_size", o.batch_size},
                      {"threads_per_worker", o.threads},
                      {"train_args", train_args},
                      {"measured", nlohmann::json::array()},
                      {"allreduce", ar},
                      {"link_fit", {{"ranks", ar_ranks}, {"alpha_seconds", fitted.alpha}, {"beta_bytes_per_second", fitted.beta}}},
                      {"step_model", {{"compute_points_batch_seconds", sm.compute_points},
                                      {"bench_step_seconds", bench_step},
                                      {"real_over_bench", overhead},
                                      {"bucket_bytes", sm.bucket_bytes},
                                      {"backward_share", sm.backward_share},
                                      {"overlap", sm.overlap}}},
                      {"validation", validation},
                      {"projection", projection}};
  for (const auto& m : runs) j["measured"].push_back(m.to_json());
  write_json_file(out + "/scale.json", j);
  write_file_atomic(out + "/scale.md", md.str());
  print_line(md.str());
  print_line(fmt::format("wrote {0}/scale.json and {0}/scale.md", out));
  write_plots_or_warn(out);
  return 0;
}

}  // namespace

CommandRunner add_scale_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("scale", "Measure scaling over world sizes, fit and project the step-time model");
  auto o = std::make_shared<ScaleOptions>();
  cmd->add_option("--nproc", o->nproc, "World sizes to run, starting with 1")->delimiter(',')->capture_default_str();
  cmd->add_flag("--weak", o->weak, "Weak scaling: --batch-size per worker (default: strong, --batch-size global)");
  cmd->add_option("--batch-size", o->batch_size, "Global batch (strong) or batch per worker (--weak)")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Compute threads per worker")->capture_default_str();
  cmd->add_option("--out", o->out, "Folder for the runs, scale.json and scale.md (default runs/<time>-scale)");
  cmd->add_option("--project-to", o->project_to, "World sizes of the projection")->delimiter(',')->capture_default_str();
  cmd->add_option("--links", o->links, "Links to project over: fitted (measured here), nvlink, ib, 100gbe, 10gbe")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("--link-gbps", o->link_gbps, "Also project over a link of this bandwidth (Gbit/s)");
  cmd->add_option("--link-latency-us", o->link_latency_us, "Latency per hop of --link-gbps (microseconds)")->capture_default_str();
  cmd->add_option("--compute-img-per-s", o->compute_images_per_second,
                  "Project with this training speed per worker (img/s) instead of the measured one");
  cmd->add_option("--allreduce-iters", o->allreduce_iters, "Timed allreduce iterations per size")->capture_default_str();
  cmd->footer(
      "Training flags go after --, e.g.\n"
      "  ringtrain scale --nproc 1,2 --batch-size 128 -- --data data/cifar10 --model resnet18 --epochs 2 --limit-train 2560\n"
      "  ringtrain scale --nproc 1,2 --weak --batch-size 64 --link-gbps 25 -- --data data/cifar10 --model resnet50");
  return [o] {
    for (const auto& l : o->links) {
      if (l != "fitted") link_preset(l);  // validates the name up front
    }
    return run_scale(*o, passthrough_args());
  };
}

}  // namespace rt
