#include "train/trainer.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/seed.h"
#include "core/stop_signal.h"
#include "core/timer.h"
#include "core/trace.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "parallel/grad_sync.h"
#include "parallel/launcher.h"
#include "parallel/rendezvous.h"
#include "eval/evaluate.h"
#include "model/batchnorm.h"
#include "model/cuda_graph.h"
#include "model/precision.h"
#include "model/registry.h"
#include "report/tensorboard.h"
#include "report/writers.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/run_outputs.h"
#include "train/schedule.h"
#include "train/step_flags.h"

namespace rt {

namespace {

// Running sums of one epoch's training, kept on the device so that the loop does not
// synchronise with it every step; summed over ranks at the end of the epoch. A batch whose
// loss is not finite (a step skipped with --skip-nonfinite) is left out of them, decided on the
// device as well.
struct EpochStats {
  torch::Tensor sums;  // [3] float64 on the device: loss x images, correct, images counted
  int64_t images = 0;  // images trained on by this rank (for throughput), counted on the host
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels) {
    const auto b = labels.size(0);
    const auto finite = torch::isfinite(loss.detach());
    const auto l = loss.detach().to(torch::kFloat64) * static_cast<double>(b);
    const auto c = logits.detach().argmax(1).eq(labels).sum().to(torch::kFloat64);
    auto batch = torch::stack({l, c, torch::full({}, static_cast<double>(b), l.options())});
    batch = torch::where(finite, batch, torch::zeros_like(batch));
    sums = sums.defined() ? sums + batch : batch;
    images += b;
  }
  // Continues an epoch from a checkpoint's sums over all ranks (given to rank 0 only).
  void restore(const std::array<double, 4>& partial, const torch::Device& device) {
    sums = torch::tensor({partial[0], partial[1], partial[2]}, torch::TensorOptions(torch::kFloat64)).to(device);
  }
  // {mean loss, accuracy} of this rank's epoch so far (reads the device).
  std::pair<double, double> means() const {
    if (!sums.defined()) return {0, 0};
    const auto t = sums.cpu();
    const double* v = t.data_ptr<double>();
    return v[2] > 0 ? std::make_pair(v[0] / v[2], v[1] / v[2]) : std::make_pair(0.0, 0.0);
  }
  // Sums over all ranks: {loss x images, correct, images}.
  std::array<double, 3> sums_across_ranks(Communicator& comm, const torch::Device& device) const {
    auto t = sums.defined() ? sums.clone() : torch::zeros({3}, torch::TensorOptions(torch::kFloat64).device(device));
    comm.allreduce_sum(t, "allreduce of epoch training statistics");
    t = t.cpu();
    return {t[0].item<double>(), t[1].item<double>(), t[2].item<double>()};
  }
};

std::string checkpoint_path(const std::string& dir) { return dir + "/checkpoint.pt"; }

std::string stopped_message(int64_t epoch, int64_t step, const std::string& out) {
  return fmt::format("stopped by signal {} in epoch {} after step {}; checkpoint saved in {}; continue "
                     "with: ringtrain train --resume {}",
                     stop_signal_received(), epoch + 1, step, out, out);
}

std::vector<torch::Tensor> gradients(Classifier& model) {
  std::vector<torch::Tensor> g;
  for (const auto& p : model.parameters()) g.push_back(p.grad());
  return g;
}

std::vector<torch::Tensor> state_tensors(Classifier& model) {
  std::vector<torch::Tensor> t = model.parameters();
  for (auto& b : model.buffers()) t.push_back(b);
  return t;
}

}  // namespace

RunSummary train(const Config& cfg) {
  validate(cfg);
  check_model_name(cfg.model);
  install_stop_signal_handlers();
  const DistEnv env = read_dist_env();
  set_log_rank(env.rank);
  const int64_t threads = set_compute_threads(cfg.threads);
  const torch::Device device = local_device(cfg.device, env.local_rank);
  const auto comm = make_communicator(env, cfg.backend, device,
                                      std::chrono::milliseconds(static_cast<int64_t>(cfg.timeout * 1000)));
  const int world = comm->world_size(), rank = comm->rank();
  if (cfg.cuda_graph) CudaGraphStep::check_device(device);  // before the data is loaded
  RT_CHECK_USER(!cfg.cuda_graph || world == 1,
                "--cuda-graph captures the step of one process; with {} workers run without it (there the "
                "gradient allreduce overlaps backward instead)", world);

  // --- data: whole splits in memory, optionally class-balanced subsets; this rank's shard
  const DataSplits splits = load_cifar10(cfg.data);
  RT_CHECK_USER(splits.train.num_classes() == cfg.num_classes,
                "--num-classes {} but {} holds {} classes; pass --num-classes {}", cfg.num_classes,
                splits.root, splits.train.num_classes(), splits.train.num_classes());
  const Dataset train_set = balanced_subset(splits.train, cfg.limit_train, cfg.seed);
  const Dataset test_set = balanced_subset(splits.test, cfg.limit_test, cfg.seed);
  RT_CHECK_USER(test_set.size() >= world && train_set.size() >= world,
                "world size {} is larger than the data ({} train, {} test images); use fewer workers",
                world, train_set.size(), test_set.size());
  // On CUDA the data set lives in GPU memory (150 MB for CIFAR-10 as uint8) and batches are
  // cropped, flipped and normalised there: no loader thread, no float batches over PCIe.
  Dataset train_data = train_set, test_data = test_set;
  if (device.is_cuda()) {
    for (Dataset* d : {&train_data, &test_data}) {
      d->images = d->images.to(device);
      d->labels = d->labels.to(device);
    }
    at::globalContext().setBenchmarkCuDNN(true);  // fixed shapes: let cuDNN pick its fastest kernels
  }
  const ShardSpec shard{train_set.size(), world, rank, /*shuffle=*/true, /*drop_last=*/false, cfg.seed};
  RT_CHECK_USER(cfg.batch_size <= shard_size(shard),
                "--batch-size {} is larger than the {} training images of each of the {} workers; "
                "lower it", cfg.batch_size, shard_size(shard), world);
  // A last batch of a single image cannot be batch-normalised in training: drop it.
  const bool drop_last = shard_size(shard) % cfg.batch_size == 1;
  const int64_t micro_per_epoch = batches_per_epoch(shard_size(shard), cfg.batch_size, drop_last);
  const int64_t steps_per_epoch = (micro_per_epoch + cfg.grad_accum - 1) / cfg.grad_accum;
  const int64_t global_batch = global_batch_size(cfg.batch_size, world, cfg.grad_accum);
  const double lr = scaled_learning_rate(cfg.lr, global_batch, cfg.lr_ref_batch);

  // --- model, optimiser, schedule; seeded initialisation
  torch::manual_seed(derive_seed(cfg.seed, SeedPurpose::kInit));
  auto model = make_model(cfg.model, cfg.num_classes, cfg.zero_init_residual);
  model->to(device);
  if (cfg.channels_last) to_channels_last(*model);
  const Precision precision = resolve_precision(cfg.amp, device);
  auto optimizer = make_sgd(*model, cfg);
  const ScheduleSpec schedule{cfg.schedule,       lr,         cfg.milestones, cfg.gamma,
                              cfg.warmup_epochs, cfg.epochs, steps_per_epoch};
  CheckpointMeta meta;
  meta.model = cfg.model;
  meta.num_classes = cfg.num_classes;
  meta.param_count = count_parameters(*model);
  meta.class_names = train_set.class_names;
  meta.history = nlohmann::json::array();
  const std::string out = !cfg.out.empty() ? cfg.out : !cfg.resume.empty() ? cfg.resume : default_run_dir();
  std::string resumed_from;
  if (!cfg.resume.empty()) {  // every rank reads the checkpoint (a shared or copied folder)
    const auto reader = CheckpointReader::open_newest(cfg.resume, device);
    reader->load_model(*model);
    reader->load_optimizer(*optimizer);
    reader->restore_rng();
    meta.position = reader->meta().position;
    meta.history = reader->meta().history;
    resumed_from = reader->path();
    RT_CHECK_USER(meta.position.epochs_done <= cfg.epochs,
                  "{} has already trained {} epochs, more than --epochs {}", cfg.resume,
                  meta.position.epochs_done, cfg.epochs);
  }
  // --- start-up, all ranks: rank 0's parameters and buffers everywhere
  {
    nlohmann::json agreed = to_json(cfg);  // minus what may differ per rank
    for (const char* key : {"threads", "device", "out", "log_every", "prefetch", "timeout"}) agreed.erase(key);
    agreed["train_images"] = train_set.size();
    agreed["test_images"] = test_set.size();
    for (const auto& p : model->named_parameters()) agreed["shapes"][p.key()] = p.value().sizes().vec();
    check_ranks_agree(*comm, "configuration, data sizes and parameter shapes",
                      std::hash<std::string>{}(agreed.dump()), device);
  }
  auto initial_state = state_tensors(*model);
  comm->broadcast(initial_state, 0, "broadcast of the initial parameters");
  GradientSync grad_sync(model->parameters(), *comm,
                         static_cast<int64_t>(cfg.bucket_mb * 1024 * 1024));
  // BatchNorm across ranks: --sync-bn sums batch statistics over ranks in every forward pass
  // (then running statistics agree by construction). Otherwise each rank's running statistics
  // follow its own batches; training never reads them (train mode normalises by the batch),
  // so rank 0's are broadcast only where they are read or kept: before every evaluation and
  // every checkpoint. Then every rank evaluates, and holds, the model rank 0 saves.
  const bool sync_bn = cfg.sync_bn && world > 1;
  if (sync_bn) {
    set_sync_batchnorm(*model, [&comm](torch::Tensor& t) { comm->allreduce_sum(t, "allreduce of SyncBatchNorm statistics"); });
  }
  std::vector<torch::Tensor> buffers = sync_bn ? std::vector<torch::Tensor>{} : model->buffers();
  const auto agree_on_buffers = [&] { comm->broadcast(buffers, 0, "broadcast of BatchNorm statistics"); };
  StepFlags step_flags(*comm, device);
  // --cuda-graph: from here on a side stream is current (Note [Warm-up and streams]).
  std::unique_ptr<CudaGraphStep> graph;
  if (cfg.cuda_graph) graph = std::make_unique<CudaGraphStep>(device, model->parameters(), cfg.batch_size);

  // --- --trace, all ranks record the chosen steps (core/trace.h); gathered once they are done.
  //     A run resumed after its traced steps keeps the trace written before.
  std::shared_ptr<TraceRecorder> trace;
  if (!cfg.trace.empty()) {
    const auto [first_step, last_step] = parse_step_range(cfg.trace_steps, "--trace-steps");
    if (meta.position.global_step < last_step) {
      trace = std::make_shared<TraceRecorder>(rank, first_step, last_step);
      trace->name_lane(TraceRecorder::kLoopLane, "training loop");
      grad_sync.set_trace(trace);
      comm->barrier("barrier before the trace's reference instant");  // Note [Trace clocks]
      trace->start();
      trace->set_recording(trace->wants(meta.position.global_step + 1));
    } else if (rank == 0) {
      log_info("--trace-steps {}: traced before step {} where this run resumes; {} is kept", cfg.trace_steps,
               meta.position.global_step + 1, cfg.trace);
    }
  }
  auto write_trace = [&] {  // all ranks: gather; only rank 0 writes (a diagnostic: failing to is a warning)
    const auto all = all_gather_strings(*comm, trace->events_json(), device, "trace events");
    if (rank == 0) {
      try {
        const auto parent = std::filesystem::path(cfg.trace).parent_path();
        if (!parent.empty()) make_dirs(parent.string());
        write_json_file(cfg.trace, merge_trace(all));
        log_info("trace of steps {} (all {} ranks) written to {}", cfg.trace_steps, world, cfg.trace);
      } catch (const std::exception& e) {
        log_warn("could not write the trace: {}", e.what());
      }
    }
    trace.reset();
    grad_sync.set_trace(nullptr);
  };

  // --- run folder, only rank 0 writes
  nlohmann::json config_json = to_json(cfg);
  config_json["out"] = out;
  config_json["threads"] = threads;
  config_json["device"] = device.str();
  auto& environment = config_json["environment"] = environment_json(device);
  environment["data_format"] = splits.format;
  environment["train_images"] = train_set.size();
  environment["test_images"] = test_set.size();
  environment["param_count"] = meta.param_count;
  environment["steps_per_epoch"] = steps_per_epoch;
  environment["world_size"] = world;
  environment["backend"] = comm->backend();
  environment["launcher"] = env.launcher;
  environment["global_batch"] = global_batch;
  environment["scaled_lr"] = lr;
  environment["precision"] = precision_name(precision);
  environment["gradient_buckets"] = grad_sync.num_buckets();
  meta.config = config_json;
  std::unique_ptr<TensorBoardWriter> tensorboard;  // --tensorboard, only rank 0
  if (rank == 0) {
    make_dirs(out);
    write_json_file(out + "/config.json", config_json);
    if (cfg.tensorboard) tensorboard = std::make_unique<TensorBoardWriter>(out + "/tensorboard");
  }
  // Only rank 0 writes TensorBoard events, so a failure there (a full disk) must not stop it
  // alone while the others wait in a collective: it is a warning, and the events stop.
  auto to_tensorboard = [&tensorboard](const std::function<void(TensorBoardWriter&)>& write) {
    if (!tensorboard) return;
    try {
      write(*tensorboard);
    } catch (const std::exception& e) {
      log_warn("TensorBoard events stop here: {}", e.what());
      tensorboard.reset();
    }
  };
  log_info("ringtrain train: {} ({} params) on {}, {} threads per worker, {}{}{}{}", cfg.model,
           with_thousands(meta.param_count), device.str(), threads, precision_name(precision),
           cfg.channels_last ? ", channels_last" : "", graph ? ", CUDA graph" : "",
           cfg.recipe.empty() ? "" : ", recipe " + cfg.recipe);
  log_info("world size {} ({} backend, {} launch), batch {} per worker x {} accumulation = global "
           "batch {}, lr {:.4g} (--lr {} for {} images)",
           world, comm->backend(), env.launcher, cfg.batch_size, cfg.grad_accum, global_batch, lr,
           cfg.lr, cfg.lr_ref_batch);
  log_info("data: {} ({}), {} train / {} test images, {} steps/epoch", splits.root, splits.format,
           train_set.size(), test_set.size(), steps_per_epoch);
  if (!resumed_from.empty()) {
    log_info("resumed from {} at epoch {} batch {} (step {})", resumed_from,
             meta.position.epochs_done + 1, meta.position.batch_in_epoch, meta.position.global_step);
  }
  log_info("writing to {}", out);

  const int64_t log_every = cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, micro_per_epoch / 10);
  Progress progress(/*enabled=*/rank == 0, stdout_is_tty(), log_every);
  const auto ce_options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(cfg.label_smoothing);
  EvalResult last_eval;
  bool evaluated = false;
  int64_t skipped_steps = 0;  // --skip-nonfinite
  // The agreed flags of finished steps, all ranks alike: a non-finite step fails the run naming
  // it (or is counted with --skip-nonfinite: its update was skipped); returns whether to stop.
  const auto act_on = [&](const std::vector<StepFlags::Flags>& flags, int64_t epoch) {
    bool stop = false;
    for (const auto& f : flags) {
      if (f.nonfinite) {
        const auto saved = checkpoint_files(out);
        RT_CHECK_USER(cfg.skip_nonfinite,
                      "training diverged: the loss or a gradient is not finite at epoch {} step {}; "
                      "the last good checkpoint is {}; lower --lr, add --warmup-epochs, or pass "
                      "--skip-nonfinite",
                      epoch + 1, f.step, rank == 0 && !saved.empty() ? saved.front() : "none yet");
        ++skipped_steps;
      }
      stop = stop || f.stop;
    }
    return stop;
  };
  for (int64_t epoch = meta.position.epochs_done; epoch < cfg.epochs; ++epoch) {
    // --- one epoch, all ranks: batch -> forward -> loss -> backward (buckets reduce as they
    //     fill) -> wait -> step
    Stopwatch epoch_clock;
    model->train();
    grad_sync.reset_stats();
    LoaderSpec spec;
    spec.batch_size = cfg.batch_size;
    spec.augment = cfg.augment;
    spec.drop_last = drop_last;
    spec.seed = cfg.seed;
    spec.epoch = epoch;
    spec.prefetch = cfg.prefetch;
    spec.on_device = !train_data.images.is_cpu();
    // Resuming inside this epoch: skip the batches done, continue the epoch's sums.
    spec.first_batch = meta.position.batch_in_epoch;
    const double earlier_seconds = meta.position.partial_epoch[3];
    EpochStats stats;
    if (spec.first_batch > 0 && rank == 0) stats.restore(meta.position.partial_epoch, device);
    meta.position.batch_in_epoch = 0;
    meta.position.partial_epoch = {0, 0, 0, 0};
    BatchLoader loader(train_data, epoch_shard(shard, epoch), spec);
    progress.begin_epoch(epoch, cfg.epochs, loader.num_batches());
    double step_lr = 0;
    // A step's span runs from its first data wait to its optimiser step (empty between steps).
    std::optional<TraceRecorder::Clock::time_point> step_begin;
    while (true) {
      if (!step_begin) step_begin = TraceRecorder::Clock::now();
      std::optional<Batch> batch;
      {
        TraceSpan span(trace.get(), "data wait");
        batch = loader.next();
      }
      if (!batch) break;
      const int64_t micro = batch->index % cfg.grad_accum;  // position within the step
      const int64_t micro_in_step = std::min(cfg.grad_accum, loader.num_batches() - (batch->index - micro));
      const bool last_micro = micro == micro_in_step - 1;
      if (micro == 0) {
        step_lr = lr_at_step(schedule, meta.position.global_step);
        set_learning_rate(*optimizer, step_lr);
        if (!graph) optimizer->zero_grad();  // a CudaGraphStep keeps the gradients: Note [What the graph holds]
      }
      const auto images = batch->images.to(device, /*non_blocking=*/true);
      const auto labels = batch->labels.to(device, /*non_blocking=*/true);
      grad_sync.set_sync(last_micro);
      const auto forward_backward = [&](const torch::Tensor& x, const torch::Tensor& y) {
        torch::Tensor logits, loss;
        {
          TraceSpan span(trace.get(), "forward");
          AutocastGuard autocast(device, precision);  // forward only, as torch.autocast is used
          logits = model->forward(to_model_format(x, cfg.channels_last)).to(torch::kFloat32);
          loss = torch::nn::functional::cross_entropy(logits, y, ce_options);
        }
        {
          TraceSpan span(trace.get(), "backward");
          (micro_in_step > 1 ? loss / static_cast<double>(micro_in_step) : loss).backward();
        }
        return CudaGraphStep::Outputs{logits, loss};
      };
      torch::Tensor logits, loss;
      if (graph) {
        TraceSpan span(trace.get(), graph->captured() ? "forward + backward (CUDA graph)" : "forward + backward");
        std::tie(logits, loss) = graph->run(images, labels, forward_backward);
      } else {
        std::tie(logits, loss) = forward_backward(images, labels);
      }
      stats.add(loss, logits, labels);
      const int64_t done = batch->index + 1;
      if (last_micro) {
        {
          TraceSpan span(trace.get(), "wait for gradient allreduce");
          grad_sync.finish();  // waits for every bucket's allreduce: averaged gradients
        }
        // --- every step, all ranks agree (one allreduce) on: a non-finite loss or gradient on
        //     any rank (then the update is skipped on every rank, on the device), and a
        //     SIGINT/SIGTERM received by any rank; the host reads them later (Note [Flags one step late])
        optimizer->set_found_inf(step_flags.exchange(meta.position.global_step + 1, nonfinite_flag(loss, gradients(*model)),
                                                     stop_signal_received() != 0));
        {
          TraceSpan span(trace.get(), "optimizer step");
          optimizer->step();
        }
        bool stop = act_on(step_flags.take(), epoch);
        ++meta.position.global_step;
        if (trace) {  // --- --trace, all ranks: the step's span; gather once the range is done
          if (trace->recording()) {
            trace->add(fmt::format("step {}", meta.position.global_step), TraceRecorder::kLoopLane, *step_begin,
                       TraceRecorder::Clock::now(), {{"epoch", epoch + 1}});
          }
          // One step later, so that the last bucket's completion has surely been recorded.
          if (meta.position.global_step > trace->last_step()) {
            write_trace();
          } else {
            trace->set_recording(trace->wants(meta.position.global_step + 1));
          }
        }
        step_begin.reset();
        // --- every --checkpoint-every steps inside an epoch, or when a rank got SIGINT/SIGTERM:
        //     all ranks sum the epoch so far, only rank 0 writes; on a signal all ranks stop
        const bool periodic = cfg.checkpoint_every > 0 && meta.position.global_step % cfg.checkpoint_every == 0;
        if ((periodic || stop) && done < loader.num_batches()) {
          stop = act_on(step_flags.take(/*all=*/true), epoch) || stop;
          agree_on_buffers();
          const auto sums = stats.sums_across_ranks(*comm, device);
          CheckpointMeta mid = meta;
          mid.position.batch_in_epoch = done;
          mid.position.partial_epoch = {sums[0], sums[1], sums[2], earlier_seconds + epoch_clock.seconds()};
          if (rank == 0) save_checkpoint_rotating(out, cfg.keep_checkpoints, *model, *optimizer, mid);
          if (stop) throw Interrupted(stopped_message(epoch, meta.position.global_step, out));
        }
      }
      if (done % log_every == 0 || done == loader.num_batches() || progress.wants_redraw()) {
        const auto [mean_loss, accuracy] = stats.means();  // reads the device: only at progress lines
        progress.update(done, stats.images * world, mean_loss, accuracy, step_lr);  // img/s of all ranks
        to_tensorboard([&](TensorBoardWriter& tb) {  // --- at progress lines, only rank 0: live values
          tb.add_scalar("train/running_loss", mean_loss, meta.position.global_step);
          tb.add_scalar("train/lr", step_lr, meta.position.global_step);
          tb.flush(/*durable=*/false);
        });
      }
    }
    act_on(step_flags.take(/*all=*/true), epoch);
    progress.end_epoch();
    const double train_seconds = earlier_seconds + epoch_clock.seconds();
    const auto sums = stats.sums_across_ranks(*comm, device);
    const double train_loss = sums[0] / sums[2], train_accuracy = sums[1] / sums[2], train_images = sums[2];

    // --- every epoch, all ranks: rank 0's BatchNorm statistics everywhere, evaluate a shard
    //     each, sum the counts
    agree_on_buffers();
    last_eval = evaluate(*model, test_data, cfg.eval_batch_size, device,
                         eval_shard(test_set.size(), rank, world), precision, cfg.channels_last);
    reduce_across_ranks(last_eval, *comm, device);
    evaluated = true;
    ++meta.position.epochs_done;
    const double epoch_seconds = earlier_seconds + epoch_clock.seconds();
    const CommStats& cs = grad_sync.stats();
    const double steps = static_cast<double>(std::max<int64_t>(cs.steps, 1));
    meta.history.push_back(
        {{"epoch", epoch + 1},
         {"train_loss", train_loss},
         {"train_accuracy", train_accuracy},
         {"test_loss", last_eval.loss()},
         {"test_accuracy", last_eval.accuracy()},
         {"lr", step_lr},
         {"train_seconds", train_seconds},
         {"seconds", epoch_seconds},
         {"images_per_second", train_images / train_seconds},
         {"world_size", world},
         {"global_batch", global_batch},
         {"comm", {{"backend", comm->backend()},
                   {"buckets", cs.buckets},
                   {"bytes_allreduced_per_step", static_cast<double>(cs.bytes_allreduced) / steps},
                   {"exposed_comm_seconds_per_step", cs.exposed_comm_seconds / steps},
                   {"compute_seconds_per_step", (train_seconds - cs.exposed_comm_seconds) / steps},
                   {"allreduce_seconds_per_step", cs.allreduce_seconds / steps},
                   {"exposed_comm_share", cs.exposed_comm_seconds / train_seconds},
                   {"overlap_share", cs.allreduce_seconds > 0 ? 1.0 - cs.exposed_comm_seconds / cs.allreduce_seconds : 0.0}}}});
    log_info("epoch {}/{}: train loss {:.4f} acc {:.2f}% | test loss {:.4f} acc {:.2f}% | lr {:.4g} | "
             "{:.0f} img/s | {}",
             epoch + 1, cfg.epochs, train_loss, 100 * train_accuracy, last_eval.loss(),
             100 * last_eval.accuracy(), step_lr, train_images / train_seconds,
             format_duration(epoch_seconds));

    // --- every epoch, only rank 0: history, TensorBoard scalars and checkpoint
    to_tensorboard([&](TensorBoardWriter& tb) {
      const auto& h = meta.history.back();
      for (const auto& [tag, key] : std::vector<std::pair<std::string, std::string>>{
               {"epoch/train_loss", "train_loss"},
               {"epoch/train_accuracy", "train_accuracy"},
               {"epoch/test_loss", "test_loss"},
               {"epoch/test_accuracy", "test_accuracy"},
               {"epoch/lr", "lr"},
               {"epoch/images_per_second", "images_per_second"}}) {
        tb.add_scalar(tag, h.at(key).get<double>(), meta.position.global_step);
      }
      tb.add_scalar("epoch/exposed_comm_share", h.at("comm").at("exposed_comm_share").get<double>(),
                    meta.position.global_step);
      tb.flush();
    });
    if (rank == 0) {
      write_json_file(out + "/history.json", meta.history);
      save_checkpoint_rotating(out, cfg.keep_checkpoints, *model, *optimizer, meta);
    }
    if (epoch + 1 < cfg.epochs && any_rank_true(*comm, {stop_signal_received() != 0}, device)[0]) {
      throw Interrupted(stopped_message(epoch, meta.position.global_step, out));
    }
  }

  // --- end of run: the trace if its steps ran out (all ranks), final metrics (all ranks
  //     evaluate), reports (only rank 0)
  if (trace) {
    if (rank == 0 && meta.position.global_step < trace->last_step()) {
      log_warn("--trace-steps {}: the run ended at step {}; the trace holds the steps that ran", cfg.trace_steps,
               meta.position.global_step);
    }
    write_trace();
  }
  if (!evaluated) {
    agree_on_buffers();
    last_eval = evaluate(*model, test_data, cfg.eval_batch_size, device, eval_shard(test_set.size(), rank, world), precision, cfg.channels_last);
    reduce_across_ranks(last_eval, *comm, device);
  }
  RunSummary summary;
  summary.out_dir = out;
  summary.test_accuracy = last_eval.accuracy();
  double total_seconds = 0, train_seconds = 0, train_images = 0;
  int64_t best_epoch = 0;
  nlohmann::json last_comm;
  for (const auto& h : meta.history) {
    total_seconds += h.at("seconds").get<double>();
    train_seconds += h.at("train_seconds").get<double>();
    train_images += h.at("images_per_second").get<double>() * h.at("train_seconds").get<double>();
    if (h.at("test_accuracy").get<double>() > summary.best_test_accuracy) {
      summary.best_test_accuracy = h.at("test_accuracy").get<double>();
      best_epoch = h.at("epoch").get<int64_t>();
    }
    if (h.contains("comm")) last_comm = h.at("comm");
  }
  summary.train_images_per_second = train_seconds > 0 ? train_images / train_seconds : 0;
  // All ranks: every replica's fingerprint, which must be rank 0's (recorded, and checked by the tests).
  const auto replica_fingerprints = all_gather_strings(*comm, weights_fingerprint(*model), device, "weights fingerprints");
  if (rank == 0) {
    for (int r = 1; r < world; ++r) {
      if (replica_fingerprints[r] != replica_fingerprints[0]) {
        log_warn("rank {}'s weights differ from rank 0's (fingerprint {} against {}): the replicas have drifted "
                 "apart; please report this", r, replica_fingerprints[r], replica_fingerprints[0]);
      }
    }
    write_evaluation_outputs(out, last_eval, test_set.class_names,
                             {{"model", cfg.model},
                              {"param_count", meta.param_count},
                              {"epochs", meta.position.epochs_done},
                              {"steps", meta.position.global_step},
                              {"world_size", world},
                              {"global_batch", global_batch},
                              {"test_accuracy", summary.test_accuracy},
                              {"best_test_accuracy", summary.best_test_accuracy},
                              {"best_epoch", best_epoch},
                              {"total_seconds", total_seconds},
                              {"train_seconds", train_seconds},
                              {"train_images_per_second", summary.train_images_per_second},
                              {"comm_last_epoch", last_comm},
                              {"weights_fingerprint", replica_fingerprints[0]},
                              {"replica_fingerprints", replica_fingerprints},
                              {"skipped_nonfinite_steps", skipped_steps},
                              {"checkpoint", checkpoint_path(out)},
                              {"environment", environment}});
    write_plots_or_warn(out);
  }
  log_info("done: test accuracy {:.2f}% (best {:.2f}% at epoch {}), {:.0f} img/s, {} in total; see {}/",
           100 * summary.test_accuracy, 100 * summary.best_test_accuracy, best_epoch,
           summary.train_images_per_second, format_duration(total_seconds), out);
  return summary;
}

}  // namespace rt
