// `ringtrain bench`: training-step, forward and data-pipeline throughput on this machine, or
// with --allreduce the collective's time and bandwidth over the chosen backend and world size.
#include <cmath>
#include <cstdlib>

#include "cli/commands.h"
#include "cli/options.h"
#include "core/config_table.h"
#include "core/errors.h"
#include "core/grad_compression.h"
#include "core/log.h"
#include "data/loader.h"
#include "device/torch_compat.h"
#include "measure/bench.h"
#include "model/cuda_graph.h"
#include "model/registry.h"
#include "parallel/job.h"
#include "parallel/launcher.h"
#include "parallel/rendezvous.h"
#include "train/run_outputs.h"

namespace rt {

namespace {

struct BenchOptions {
  std::string model = "resnet18";
  int64_t batch_size = 128;
  int64_t threads = 0;
  std::string device = "auto";
  bool channels_last = false;
  bool cuda_graph = false;
  bool cudnn_benchmark = true;
  std::string amp = "none";
  std::vector<std::string> modes = {"train", "forward", "data"};
  int64_t warmup = 3, reps = 5, steps = 5;
  std::string data;             // data pipeline: a data folder; empty = synthetic images
  int64_t data_images = 10000;  // images for the data pipeline (synthetic, or a class-balanced subset)
  int64_t image_size = 0;       // data pipeline on an image folder: the input side (0 = its default)
  int64_t loader_threads = 0;   // 0 = 1 for data in memory, all cores for image files
  bool dct_scaling = true;
  std::string cache_dir;  // image files read through a resized-image cache (its first pass, the warm-up, makes it)
  int64_t max_side = 512;
  std::string cache_format = "jpeg";
  bool allreduce = false;
  int64_t nproc = 0;
  std::string backend = "auto";
  std::string min_size = "4K", max_size = "256M";
  int64_t iters = 10;
  std::vector<std::string> compression;  // --allreduce or --mode compress: these gradient compressors
  double bucket_mb = 25;                 // --mode compress: the gradient bucket cap
  double timeout = 120;
  bool json = false;
  uint64_t seed = 0;
};

int64_t parse_size(const std::string& s, const std::string& flag) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = s.substr(used);
  const double mult = unit.empty() || unit == "B"   ? 1
                      : unit == "K" || unit == "KB" ? 1024.0
                      : unit == "M" || unit == "MB" ? 1024.0 * 1024
                      : unit == "G" || unit == "GB" ? 1024.0 * 1024 * 1024
                                                    : -1;
  RT_CHECK_USER(used > 0 && mult > 0 && v > 0, "{} must be a size such as 4K, 64M or 1G, got '{}'", flag, s);
  return static_cast<int64_t>(v * mult);
}

std::string human_bytes(int64_t b) {
  if (b >= (1 << 30)) return fmt::format("{:.3g} GB", static_cast<double>(b) / (1 << 30));
  if (b >= (1 << 20)) return fmt::format("{:.3g} MB", static_cast<double>(b) / (1 << 20));
  if (b >= (1 << 10)) return fmt::format("{:.3g} KB", static_cast<double>(b) / (1 << 10));
  return fmt::format("{} B", b);
}

int run_allreduce(const BenchOptions& o) {
  const int64_t min_bytes = parse_size(o.min_size, "--min-size");
  const int64_t max_bytes = parse_size(o.max_size, "--max-size");
  RT_CHECK_USER(min_bytes >= 4 && min_bytes <= max_bytes, "--min-size must be at least 4 bytes and at most --max-size");
  RT_CHECK_USER(o.iters >= 1 && o.warmup >= 0, "--iters must be >= 1 and --warmup >= 0");
  // Without --grad-compression the plain float32 allreduce; with it, a gradient bucket through
  // each compressor in turn.
  std::vector<std::optional<GradCompression>> modes;
  for (const auto& text : o.compression) modes.emplace_back(GradCompression::parse(text));
  if (modes.empty()) modes.emplace_back(std::nullopt);
  if (o.nproc > 0 && std::getenv(kWorkerEnv) == nullptr) {
    RT_CHECK_USER(o.nproc >= 2 && o.nproc <= 1024, "--nproc must be in 2..1024 for an allreduce benchmark, got {}",
                  o.nproc);
    LaunchSpec spec;
    spec.nproc = static_cast<int>(o.nproc);
    spec.argv = process_argv();
    spec.prefix_stdout = !o.json;
    spec.threads_per_worker = static_cast<int>(o.threads);  // 0: the launcher splits the cores
    return launch_local_workers(spec);
  }
  RT_CHECK_USER(read_dist_env().world_size >= 2,
                "an allreduce benchmark needs at least 2 ranks: pass --nproc N "
                "or start it with torchrun, mpirun or srun");
  const Job job = join_job(o.device, o.threads, o.backend, o.timeout);
  const DistEnv& env = job.env;
  const torch::Device local = job.device;
  const auto& comm = job.comm;
  std::vector<std::vector<AllreduceRow>> results;
  for (const auto& mode : modes) {
    results.push_back(bench_allreduce(*comm, local, min_bytes, max_bytes, o.iters, o.warmup, mode));
  }
  if (env.rank != 0) return 0;
  nlohmann::json j = {{"benchmark", "allreduce"}, {"backend", comm->backend()}, {"world_size", comm->world_size()},
                      {"launcher", env.launcher}, {"device", local.str()},      {"dtype", "float32"},
                      {"iters", o.iters},         {"warmup", o.warmup},         {"rows", nlohmann::json::array()}};
  for (size_t m = 0; m < modes.size(); ++m) {
    for (const auto& r : results[m]) {
      nlohmann::json row = {{"bytes", r.bytes},
                            {"payload_bytes", r.payload_bytes},
                            {"seconds", r.seconds},
                            {"algbw_gbs", r.algbw_gbs},
                            {"busbw_gbs", r.busbw_gbs}};
      if (modes[m]) row["compression"] = modes[m]->name();
      j["rows"].push_back(row);
    }
  }
  if (o.json) {
    print_line(j.dump(2));
    return 0;
  }
  for (size_t m = 0; m < modes.size(); ++m) {
    if (!modes[m]) {
      print_line(
          fmt::format("allreduce (sum, float32) over {} ranks, {} backend, {} launch; median of {} "
                      "iterations, slowest rank",
                      comm->world_size(), comm->backend(), env.launcher, o.iters));
      print_line(fmt::format("{:>10} {:>12} {:>13} {:>13}", "size", "time (us)", "algbw (GB/s)", "busbw (GB/s)"));
      for (const auto& r : results[m]) {
        print_line(fmt::format("{:>10} {:>12.1f} {:>13.3f} {:>13.3f}", human_bytes(r.bytes), r.seconds * 1e6,
                               r.algbw_gbs, r.busbw_gbs));
      }
      print_line("algbw = size / time; busbw = algbw x 2(n-1)/n (the ring's per-link traffic, as nccl-tests)");
      continue;
    }
    print_line(
        fmt::format("gradient bucket averaged with --grad-compression {} over {} ranks, {} backend; median "
                    "of {} iterations, slowest rank, compression included",
                    modes[m]->name(), comm->world_size(), comm->backend(), o.iters));
    print_line(fmt::format("{:>10} {:>12} {:>12} {:>17} {:>13}", "size", "sent", "time (us)", "effective (GB/s)",
                           "busbw (GB/s)"));
    for (const auto& r : results[m]) {
      print_line(fmt::format("{:>10} {:>12} {:>12.1f} {:>17.3f} {:>13.3f}", human_bytes(r.bytes),
                             human_bytes(r.payload_bytes), r.seconds * 1e6, r.algbw_gbs, r.busbw_gbs));
    }
  }
  if (!o.compression.empty()) {
    print_line("effective = gradient size / time; sent = bytes put into allreduces; busbw = sent / time x 2(n-1)/n");
  }
  return 0;
}

int run_compute(const BenchOptions& o) {
  check_model_name(o.model);
  check_flag_range("--data-images", o.data_images, 1, kMaxImages, "more images than any data set ringtrain reads");
  RT_CHECK_USER(o.warmup >= 0 && o.reps >= 1 && o.steps >= 1, "--warmup must be >= 0, --reps and --steps >= 1");
  for (const auto& m : o.modes) {
    RT_CHECK_USER(m == "train" || m == "forward" || m == "data" || m == "compress" || m == "timing",
                  "--mode takes train, forward, data, compress and timing, got '{}'", m);
    RT_CHECK_USER(m != "compress" || !o.compression.empty(),
                  "--mode compress times the compressors of --grad-compression: name them, e.g. "
                  "--grad-compression bf16,powersgd:4");
  }
  std::vector<GradCompression> compressors;
  for (const auto& text : o.compression) compressors.push_back(GradCompression::parse(text));
  const int64_t threads = set_compute_threads(o.threads);
  const torch::Device device = resolve_device(o.device);
  if (o.cuda_graph) CudaGraphStep::check_device(device);  // before any mode runs
  StepBenchSpec s;
  s.model = o.model;
  s.batch_size = o.batch_size;
  s.device = device;
  s.precision = resolve_precision(o.amp, device);
  s.channels_last = o.channels_last;
  s.cuda_graph = o.cuda_graph;
  s.cudnn_benchmark = o.cudnn_benchmark;
  s.warmup = o.warmup;
  s.reps = o.reps;
  s.steps = o.steps;
  s.seed = o.seed;
  nlohmann::json j = {{"tool", "ringtrain"},
                      {"torch", torch_version_string()},
                      {"model", o.model},
                      {"batch_size", o.batch_size},
                      {"threads", threads},
                      {"device", device.str()},
                      {"channels_last", o.channels_last},
                      {"cuda_graph", o.cuda_graph},
                      {"cudnn_benchmark", o.cudnn_benchmark},
                      {"amp", precision_name(s.precision) == "bf16" ? "bf16" : "none"},
                      {"param_count", count_parameters(*make_model(o.model, 10, false))},
                      {"results", nlohmann::json::array()}};
  const std::string what = fmt::format("ringtrain {} batch {} threads {} {} {} {}{}", o.model, o.batch_size, threads,
                                       device.str(), precision_name(s.precision),
                                       o.channels_last ? "channels_last" : "NCHW", o.cuda_graph ? " CUDA graph" : "");
  // `label`: what was measured, when not the model's step (`what`).
  auto report = [&](const std::string& mode, const Rate& r, nlohmann::json extra, const std::string& label = "") {
    extra["mode"] = mode;
    extra["images_per_second"] = r.to_json();
    j["results"].push_back(extra);
    if (!o.json) {
      print_line(fmt::format("{}: {} {:.1f} img/s (min {:.1f}, max {:.1f}; {} reps)", label.empty() ? what : label,
                             mode, r.median(), r.min(), r.max(), r.reps.size()));
    }
  };
  for (const auto& m : o.modes) {
    if (m == "train") report(m, bench_train_step(s), {{"steps_per_rep", s.steps}, {"warmup", s.warmup}});
    if (m == "forward") report(m, bench_forward(s), {{"steps_per_rep", s.steps}, {"warmup", s.warmup}});
    if (m == "compress") {
      for (const auto& c : compressors) {
        const Rate r = bench_compression(s, c, static_cast<int64_t>(o.bucket_mb * 1024 * 1024));
        j["results"].push_back({{"mode", "compress"},
                                {"compression", c.name()},
                                {"seconds_per_step", 1.0 / r.median()},
                                {"steps_per_second", r.to_json()}});
        if (!o.json) {
          print_line(fmt::format("{}: compress and decompress with {}: {:.1f} ms per step (min {:.1f}, max {:.1f})",
                                 what, c.name(), 1e3 / r.median(), 1e3 / r.max(), 1e3 / r.min()));
        }
      }
    }
    if (m == "timing") {
      const GradientTiming t = bench_gradient_timing(s);
      j["results"].push_back({{"mode", "timing"}, {"ready", t.ready}, {"backward_share", t.backward_share}});
      if (!o.json) {
        print_line(
            fmt::format("{}: backward is {:.0f}% of the step; the first parameter's gradient is ready at {:.0f}% "
                        "of backward, the last one's at {:.0f}%",
                        what, 100 * t.backward_share, 100 * t.ready.front(), 100 * t.ready.back()));
      }
    }
    if (m == "data") {
      DataRequest request;
      request.image_size = o.image_size;
      request.dct_scaling = o.dct_scaling;
      request.cache_dir = o.cache_dir;
      request.max_side = o.max_side;
      request.cache_format = o.cache_format;
      const Dataset d = o.data.empty() ? synthetic_dataset(o.data_images, o.seed)
                                       : balanced_subset(load_splits(o.data, request).train, o.data_images, o.seed);
      const int64_t loader_threads = o.loader_threads > 0 ? o.loader_threads : default_loader_threads(d, threads);
      double first_pass = 0;
      const Rate rate = bench_data_pipeline(d, o.batch_size, o.reps, loader_threads, &first_pass);
      if (!o.json)
        print_line(fmt::format("first (untimed) pass: {:.1f} img/s{}", first_pass,
                               d.cache ? ", making the image cache's missing entries" : ""));
      report(m, rate,
             {{"images", d.size()},
              {"source", o.data.empty() ? "synthetic" : o.data},
              {"image_size", d.image_size},
              {"loader_threads", loader_threads},
              {"first_pass_images_per_second", first_pass},
              {"dct_scaling", d.streamed() && d.dct_scaling},
              {"cache", d.cache ? fmt::format("{} {} px in {}", o.cache_format, o.max_side, o.cache_dir) : ""}},
             fmt::format("ringtrain loader, {} {}, batch {}, {} loader thread{}", d.size(),
                         d.streamed() ? fmt::format("image files at {} px", d.image_size) : "in-memory images",
                         o.batch_size, loader_threads, loader_threads == 1 ? "" : "s"));
    }
  }
  if (o.json) print_line(j.dump(2));
  return 0;
}

}  // namespace

CommandRunner add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure step, forward, data-pipeline or allreduce throughput");
  auto o = std::make_shared<BenchOptions>();
  auto flags = std::make_shared<SharedFlags>(cmd);  // the flags it shares with `train` (cli/options.h)
  flags->add("model", o->model);
  flags->add("batch_size", o->batch_size, "Images per step of this one process");
  flags->add("threads", o->threads);
  flags->add("device", o->device);
  flags->add("channels_last", o->channels_last);
  flags->add("amp", o->amp);
  flags->add("cuda_graph", o->cuda_graph, "train mode: replay forward + backward as a CUDA graph (CUDA only)");
  flags->add("cudnn_benchmark", o->cudnn_benchmark);
  cmd->add_option("--mode", o->modes,
                  "What to measure: train, forward, data, compress (the --grad-compression compressors), timing "
                  "(when each gradient is ready in backward)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "Untimed steps (allreduce: iterations) first")->capture_default_str();
  cmd->add_option("--reps", o->reps, "Timed repetitions")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Steps per repetition")->capture_default_str();
  flags->add("data", o->data,
             "Data pipeline on this data folder (CIFAR binary or an image folder of any size; default: synthetic "
             "32x32 images)");
  cmd->add_option("--data-images", o->data_images,
                  "Images for the data pipeline (synthetic, or a class-balanced subset of --data)")
      ->capture_default_str();
  flags->add("image_size", o->image_size, "Data pipeline on image files: input side S (0 = 224)");
  flags->add("loader_threads", o->loader_threads);
  flags->add("dct_scaling", o->dct_scaling);
  flags->add("cache_dir", o->cache_dir,
             "Data pipeline on image files: read them through a resized-image cache in this folder (the untimed "
             "first pass makes what is missing)");
  flags->add("max_side", o->max_side);
  flags->add("cache_format", o->cache_format);
  cmd->add_flag("--allreduce", o->allreduce, "Benchmark allreduce instead (needs 2+ ranks: --nproc or a launcher)");
  flags->add("nproc", o->nproc, "--allreduce: spawn N local ranks");
  flags->add("backend", o->backend);
  cmd->add_option("--min-size", o->min_size, "--allreduce: smallest message (e.g. 4K)")->capture_default_str();
  cmd->add_option("--max-size", o->max_size, "--allreduce: largest message (e.g. 256M)")->capture_default_str();
  cmd->add_option("--iters", o->iters, "--allreduce: timed iterations per size")->capture_default_str();
  cmd->add_option("--grad-compression", o->compression,
                  "--allreduce: average a gradient bucket through each of these compressors instead; --mode "
                  "compress: time each (none,bf16,fp16,powersgd:R; comma-separated)")
      ->delimiter(',');
  flags->add("bucket_mb", o->bucket_mb, "--mode compress: gradient bucket cap in MB");
  flags->add("timeout", o->timeout);
  flags->add("seed", o->seed, "Seed of the synthetic weights and data");
  cmd->add_flag("--json", o->json, "Print one JSON object instead of the table");
  cmd->footer(
      "Examples:\n"
      "  ringtrain bench --model resnet18 --batch-size 128 --threads 2\n"
      "  ringtrain bench --model resnet50 --amp bf16 --channels-last true --mode train --json\n"
      "  ringtrain bench --mode data --data imagenet-like/ --image-size 128 --batch-size 64\n"
      "  ringtrain bench --allreduce --nproc 2 --max-size 64M\n"
      "  ringtrain bench --allreduce --nproc 2 --grad-compression none,bf16,powersgd:4 --min-size 1M --max-size 64M");
  return [o, flags] {
    flags->check();
    return o->allreduce ? run_allreduce(*o) : run_compute(*o);
  };
}

}  // namespace rt
