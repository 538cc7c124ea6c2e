#include "train/run.h"

#include <functional>

#include "checkpoint/interop.h"
#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/seed.h"
#include "core/stop_signal.h"
#include "data/augment.h"
#include "model/batchnorm.h"
#include "model/registry.h"
#include "parallel/job.h"
#include "report/writers.h"
#include "train/resume_point.h"
#include "train/run_outputs.h"

namespace rt {

Run::Run(const Config& config, const std::string& job_id, CheckpointReader* resume) : cfg(config) {
  job = job_id.empty() ? new_job_identity() : job_id;
  validate(cfg);
  check_model_name(cfg.model);
  install_stop_signal_handlers();
  join_job();
  load_data();
  build_model(resume);
  start_up();
  write_run_folder();
}

// Where this process stands: rank, device, communicator.
void Run::join_job() {
  Job job = rt::join_job(cfg.device, cfg.threads, cfg.backend, cfg.timeout);
  env = job.env;
  threads = job.threads;
  device = job.device;
  comm = std::move(job.comm);
  world = comm->world_size();
  rank = comm->rank();
  if (cfg.cuda_graph) CudaGraphStep::check_device(device);  // before the data is loaded
  RT_CHECK_USER(!cfg.cuda_graph || world == 1,
                "--cuda-graph captures the step of one process; with {} workers run without it (there the "
                "gradient allreduce overlaps backward instead)",
                world);
}

// The splits (32x32 images in memory, larger ones as file lists), optionally class-balanced
// subsets; this rank's shard. The input size, statistics and stem resolved here are written
// back into cfg, so that config.json and the checkpoints say what was used.
void Run::load_data() {
  const DataSplits splits = load_splits(cfg.data, data_request(cfg));
  RT_CHECK_USER(cfg.num_classes == 0 || splits.train.num_classes() == cfg.num_classes,
                "--num-classes {} but {} holds {} classes; pass --num-classes {} or leave it out", cfg.num_classes,
                splits.root, splits.train.num_classes(), splits.train.num_classes());
  cfg.num_classes = splits.train.num_classes();  // config.json and the checkpoints say what was used
  data_root = splits.root;
  data_format = splits.format;
  skipped_at_load = static_cast<int64_t>(splits.skipped.size());
  train_set = balanced_subset(splits.train, cfg.limit_train, cfg.seed);
  test_set = balanced_subset(splits.test, cfg.limit_test, cfg.seed);
  cfg.image_size = train_set.image_size;
  cfg.mean = fmt::format("{},{},{}", train_set.norm.mean[0], train_set.norm.mean[1], train_set.norm.mean[2]);
  cfg.std = fmt::format("{},{},{}", train_set.norm.std[0], train_set.norm.std[1], train_set.norm.std[2]);
  cfg.stem = resolve_stem(cfg.stem, cfg.image_size, cfg.model);
  RT_CHECK_USER(!train_set.streamed() || (cfg.translate == 4 && cfg.pad_mode == "zeros" && cfg.flip == "random"),
                "--translate, --pad-mode and --flip shape the augmentation of 32x32 images in memory; {} holds image "
                "files of another size (a random resized crop and flip): leave them at 4, zeros and random",
                data_root);
  if (cfg.loader_threads == 0) cfg.loader_threads = default_loader_threads(train_set, threads);
  RT_CHECK_USER(test_set.size() >= world && train_set.size() >= world,
                "world size {} is larger than the data ({} train, {} test images); use fewer workers", world,
                train_set.size(), test_set.size());
  // On CUDA the data set lives in GPU memory (150 MB for CIFAR-10 as uint8) and batches are
  // cropped, flipped and normalised there: no loader thread, no float batches over PCIe.
  if (device.is_cuda() && !train_set.streamed()) {
    for (Dataset* d : {&train_set, &test_set}) {
      d->images = d->images.to(device);
      d->labels = d->labels.to(device);
    }
    at::globalContext().setBenchmarkCuDNN(cfg.cudnn_benchmark);  // few shapes: a search per shape pays off
  }
  partition =
      decide_partition(train_set.size(), world, rank, cfg.batch_size, cfg.grad_accum, cfg.global_batch, cfg.seed);
  lr = scaled_learning_rate(cfg.lr, partition.global_batch, cfg.lr_ref_batch);
}

// Model (seeded initialisation), optimiser, schedule; with `resume`, their state from it.
void Run::build_model(CheckpointReader* resume) {
  torch::manual_seed(derive_seed(cfg.seed, SeedPurpose::kInit));
  model = make_model(cfg.model, cfg.num_classes, cfg.zero_init_residual, cfg.stem);
  if (model->initialises_from_data() && !resume) {  // a whitening layer: from the data, as the paper does
    RT_CHECK_USER(!train_set.streamed(),
                  "{} initialises its first layer from training images held in memory (32x32 data sets), and {} "
                  "holds image files of another size; use another --model",
                  cfg.model, data_root);
    model->initialise_from_data(sample_images(train_set, 5000, cfg.seed));
  }
  if (!cfg.init_from.empty()) {  // fine-tuning: every rank reads the file (rank 0's copy is broadcast anyway)
    RT_CHECK_USER(!resume, "--init-from and --resume both given: a resumed run has its own weights");
    for (const auto& fresh : import_state_dict(*model, cfg.init_from, /*new_head=*/true)) {
      if (rank == 0) log_info("--init-from {}: {} starts fresh (another class count)", cfg.init_from, fresh);
    }
  }
  model->to(device);
  if (cfg.channels_last) to_channels_last(*model);
  precision = resolve_precision(cfg.amp, device);
  optimizer = make_sgd(*model, cfg);
  schedule = ScheduleSpec{cfg.schedule,
                          lr,
                          cfg.milestones,
                          cfg.gamma,
                          cfg.warmup_epochs,
                          cfg.epochs,
                          partition.steps_per_epoch,
                          cfg.triangle_start,
                          cfg.triangle_peak,
                          cfg.triangle_end};
  param_count = count_parameters(*model);
  out = !cfg.out.empty() ? cfg.out : !cfg.resume.empty() ? cfg.resume : default_run_dir();
  if (resume) resumed = resume_run(*resume, *model, *optimizer, cfg, world);
}

// All ranks: agree on what must be equal, then rank 0's parameters and buffers everywhere;
// gradient buckets, SyncBatchNorm, the step flags, the CUDA graph.
void Run::start_up() {
  {
    nlohmann::json agreed = to_json(cfg);  // minus what may differ per rank
    for (const char* key :
         {"threads", "device", "out", "log_every", "prefetch", "timeout", "loader_threads", "cache_dir"})
      agreed.erase(key);
    agreed["train_images"] = train_set.size();
    agreed["test_images"] = test_set.size();
    for (const auto& p : model->named_parameters()) agreed["shapes"][p.key()] = p.value().sizes().vec();
    check_ranks_agree(*comm, "configuration, data sizes and parameter shapes", std::hash<std::string>{}(agreed.dump()),
                      device);
  }
  // The same checkpoint file, or none on every rank (train/resume_point.h: each rank decided on
  // its own): the broadcast below covers only weights and buffers.
  check_ranks_agree(*comm,
                    resumed.empty() ? "the checkpoint they resume (this rank starts afresh)"
                                    : fmt::format("the checkpoint they resume (this rank read {}, checksum {})",
                                                  resumed.file, resumed.checksum),
                    std::hash<std::string>{}(resumed.checksum), device,
                    "give every rank the same newest checkpoint (one shared folder, or a copy of it on each host)");
  std::vector<torch::Tensor> initial = model->parameters();
  for (auto& b : model->buffers()) initial.push_back(b);
  comm->broadcast(initial, 0, "broadcast of the initial parameters");
  exchange =
      std::make_unique<GradientExchange>(trainable_parameters(*model), *comm, cfg, std::move(resumed.compression));
  bn_policy = decide_batchnorm_policy(cfg.sync_bn, cfg.global_batch, world);
  if (bn_policy.sync_batch_statistics) {
    set_sync_batchnorm(*model,
                       [this](torch::Tensor& t) { comm->allreduce_sum(t, "allreduce of SyncBatchNorm statistics"); });
  }
  if (bn_policy.broadcast_running) bn_buffers_ = model->buffers();
  if (bn_policy.replay_running)
    bn_replay = std::make_unique<BatchNormReplay>(*model, *comm, device, cfg.skip_bad_images);
  flags = std::make_unique<StepFlags>(*comm, device);
  if (cfg.cuda_graph) graph = std::make_unique<CudaGraphStep>(device, trainable_parameters(*model), cfg.batch_size);
  if (cfg.ema_every > 0) {  // from the agreed weights; a resumed run continues its average
    lookahead = std::make_unique<Lookahead>(*model, cfg.ema_every, cfg.ema_rate, cfg.ema_power,
                                            cfg.epochs * partition.steps_per_epoch);
    if (!resumed.lookahead.empty()) lookahead->load_state(resumed.lookahead);
  }
  resumed.lookahead.clear();
  step = std::make_unique<TrainStep>(*model, *optimizer, exchange->sync(), *flags, graph.get(),
                                     TrainStep::Options{device, precision, cfg.channels_last, cfg.label_smoothing,
                                                        cfg.skip_bad_images, cfg.whiten_bias_epochs},
                                     bn_replay.get(), lookahead.get());
}

// The run folder's config.json (only rank 0 writes) and the run's first lines on the console.
void Run::write_run_folder() {
  config_json = to_json(cfg);
  config_json["out"] = out;
  config_json["threads"] = threads;
  config_json["device"] = device.str();
  environment = environment_json(device);
  environment["data_format"] = data_format;
  environment["train_images"] = train_set.size();
  environment["test_images"] = test_set.size();
  environment["param_count"] = param_count;
  environment["steps_per_epoch"] = partition.steps_per_epoch;
  environment["world_size"] = world;
  environment["backend"] = comm->backend();
  environment["launcher"] = env.launcher;
  environment["global_batch"] = partition.global_batch;
  environment["scaled_lr"] = lr;
  environment["precision"] = precision_name(precision);
  environment["gradient_buckets"] = exchange->sync().num_buckets();
  config_json["environment"] = environment;
  if (rank == 0) {
    make_dirs(out);
    write_json_file(out + "/config.json", config_json);
  }
  log_info("ringtrain train: {} ({} params) on {}, {} threads per worker, {}{}{}{}", cfg.model,
           with_thousands(param_count), device.str(), threads, precision_name(precision),
           cfg.channels_last ? ", channels_last" : "", graph ? ", CUDA graph" : "",
           cfg.recipe.empty() ? "" : ", recipe " + cfg.recipe);
  log_info(
      "world size {} ({} backend, {} launch), batch {} per worker x {} accumulation = global "
      "batch {}, lr {:.4g} (--lr {} for {} images)",
      world, comm->backend(), env.launcher, cfg.batch_size, partition.accumulation, partition.global_batch, lr, cfg.lr,
      cfg.lr_ref_batch);
  if (world > 1) log_info("{}", bn_policy.describe());
  log_info("data: {} ({}), {} train / {} test images, {} steps/epoch", data_root, data_format, train_set.size(),
           test_set.size(), partition.steps_per_epoch);
  if (!resumed.empty()) {
    log_info("resumed from {} at epoch {} batch {} (step {})", resumed.file, resumed.state.epochs_done + 1,
             resumed.state.batch_in_epoch, resumed.state.global_step);
  }
  if (rank == 0) log_attempt_start(resumed.state.global_step, world);  // under an elastic launcher
  log_info("writing to {}", out);
}

std::unique_ptr<BatchLoader> Run::loader(int64_t epoch, const EpochPlan& plan) const {
  LoaderSpec spec;
  spec.batch_size = cfg.batch_size;
  for (const auto& b : plan.batches) spec.batch_sizes.push_back(b.size);
  spec.augment = augmentation(cfg);
  spec.seed = cfg.seed;
  spec.epoch = epoch;
  spec.prefetch = cfg.prefetch;
  spec.threads = cfg.loader_threads;
  spec.skip_bad = cfg.skip_bad_images;
  spec.pin_memory = device.is_cuda();
  spec.on_device = train_set.on_device();
  const RunState& r = resumed.state;
  if (epoch == r.epochs_done && r.batch_in_epoch > 0) {  // a resumed epoch
    spec.first_batch = cfg.global_batch > 0 ? plan.first_batch_of_step(r.steps_in_epoch) : r.batch_in_epoch;
  }
  return std::make_unique<BatchLoader>(train_set, plan.samples, spec);
}

bool Run::any_rank(bool value) const { return any_rank_true(*comm, {value}, device)[0]; }

void Run::agree_on_bn_statistics() { comm->broadcast(bn_buffers_, 0, "broadcast of BatchNorm statistics"); }

EvalResult Run::evaluate(Tta tta) {
  agree_on_bn_statistics();
  EvalSpec spec;
  spec.batch_size = cfg.eval_batch_size;
  spec.precision = precision;
  spec.channels_last = cfg.channels_last;
  spec.tta = tta;
  spec.loader_threads = cfg.loader_threads;
  spec.skip_bad = cfg.skip_bad_images;
  EvalResult r = rt::evaluate(*model, test_set, device, spec, eval_shard(test_set.size(), rank, world));
  reduce_across_ranks(r, *comm, device);
  return r;
}

void Run::save_checkpoint(const RunState& state, const std::vector<EpochRecord>& history) {
  agree_on_bn_statistics();  // again after an evaluation: one small broadcast per epoch
  SavedCompression compression = exchange->checkpoint_state();  // a collective when there is state
  // Every collective whose results the checkpoint keeps (these, the epoch's sums, BatchNorm's
  // statistics) ended without error: on NCCL, one that failed may look finished for a while.
  comm->confirm("confirmation of the collectives before a checkpoint");
  if (rank != 0) return;
  CheckpointMeta m;
  m.model = cfg.model;
  m.num_classes = cfg.num_classes;
  m.param_count = param_count;
  m.state = state;
  m.job = job;
  m.config = config_json;
  m.history = history;
  m.class_names = train_set.class_names;
  m.grad_compression = std::move(compression);
  if (lookahead) m.lookahead = lookahead->state();
  save_checkpoint_rotating(out, cfg.keep_checkpoints, *model, *optimizer, m);
}

}  // namespace rt
