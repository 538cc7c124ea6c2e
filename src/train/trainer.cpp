#include "train/trainer.h"

#include <cmath>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/seed.h"
#include "core/timer.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "eval/evaluate.h"
#include "model/registry.h"
#include "report/writers.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/run_outputs.h"
#include "train/schedule.h"

namespace rt {

namespace {

// Running sums of one epoch's training, kept on the device so that the loop does not
// synchronise with it every step.
struct EpochStats {
  torch::Tensor loss_sum, correct;
  int64_t images = 0;
  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& labels) {
    const auto b = labels.size(0);
    auto l = loss.detach() * static_cast<double>(b);
    auto c = logits.detach().argmax(1).eq(labels).sum();
    loss_sum = loss_sum.defined() ? loss_sum + l : l;
    correct = correct.defined() ? correct + c : c;
    images += b;
  }
  double mean_loss() const { return images ? loss_sum.item<double>() / static_cast<double>(images) : 0; }
  double accuracy() const { return images ? correct.item<double>() / static_cast<double>(images) : 0; }
};

std::string checkpoint_path(const std::string& dir) { return dir + "/checkpoint.pt"; }

}  // namespace

RunSummary train(const Config& cfg) {
  validate(cfg);
  check_model_name(cfg.model);
  const int64_t threads = set_compute_threads(cfg.threads);
  const torch::Device device = resolve_device(cfg.device);

  // --- data: whole splits in memory, optionally class-balanced subsets
  const DataSplits splits = load_cifar10(cfg.data);
  RT_CHECK_USER(splits.train.num_classes() == cfg.num_classes,
                "--num-classes {} but {} holds {} classes; pass --num-classes {}", cfg.num_classes,
                splits.root, splits.train.num_classes(), splits.train.num_classes());
  const Dataset train_set = balanced_subset(splits.train, cfg.limit_train, cfg.seed);
  const Dataset test_set = balanced_subset(splits.test, cfg.limit_test, cfg.seed);
  RT_CHECK_USER(cfg.batch_size <= train_set.size(),
                "--batch-size {} is larger than the {} training images; lower it", cfg.batch_size,
                train_set.size());
  const ShardSpec shard{train_set.size(), /*world_size=*/1, /*rank=*/0, /*shuffle=*/true,
                        /*drop_last=*/false, cfg.seed};
  // A last batch of a single image cannot be batch-normalised in training: drop it.
  const bool drop_last = shard_size(shard) % cfg.batch_size == 1;
  const int64_t steps_per_epoch = drop_last ? shard_size(shard) / cfg.batch_size
                                            : (shard_size(shard) + cfg.batch_size - 1) / cfg.batch_size;

  // --- model, optimiser, schedule; seeded initialisation
  torch::manual_seed(derive_seed(cfg.seed, SeedPurpose::kInit));
  auto model = make_model(cfg.model, cfg.num_classes, cfg.zero_init_residual);
  model->to(device);
  auto optimizer = make_sgd(*model, cfg);
  const ScheduleSpec schedule{cfg.schedule, cfg.lr,     cfg.milestones,  cfg.gamma,
                              cfg.warmup_epochs, cfg.epochs, steps_per_epoch};
  CheckpointMeta meta;
  meta.model = cfg.model;
  meta.num_classes = cfg.num_classes;
  meta.param_count = count_parameters(*model);
  meta.class_names = train_set.class_names;
  meta.history = nlohmann::json::array();

  const std::string out = !cfg.out.empty() ? cfg.out : !cfg.resume.empty() ? cfg.resume : default_run_dir();
  if (!cfg.resume.empty()) {
    CheckpointReader reader(checkpoint_path(cfg.resume), device);
    reader.load_model(*model);
    reader.load_optimizer(*optimizer);
    reader.restore_rng();
    meta.position = reader.meta().position;
    meta.history = reader.meta().history;
    RT_CHECK_USER(meta.position.epochs_done <= cfg.epochs,
                  "{} has already trained {} epochs, more than --epochs {}", cfg.resume,
                  meta.position.epochs_done, cfg.epochs);
  }

  // --- run folder (only rank 0 writes)
  make_dirs(out);
  nlohmann::json config_json = to_json(cfg);
  config_json["out"] = out;
  config_json["threads"] = threads;
  config_json["device"] = device.str();
  config_json["environment"] = environment_json(device);
  config_json["environment"]["data_format"] = splits.format;
  config_json["environment"]["train_images"] = train_set.size();
  config_json["environment"]["test_images"] = test_set.size();
  config_json["environment"]["param_count"] = meta.param_count;
  config_json["environment"]["steps_per_epoch"] = steps_per_epoch;
  meta.config = config_json;
  write_json_file(out + "/config.json", config_json);

  log_info("ringtrain train: {} ({} params) on {}, {} threads", cfg.model, meta.param_count,
           device.str(), threads);
  log_info("data: {} ({}), {} train / {} test images, batch {}, {} steps/epoch", splits.root,
           splits.format, train_set.size(), test_set.size(), cfg.batch_size, steps_per_epoch);
  if (meta.position.epochs_done > 0) {
    log_info("resumed from {} after epoch {} (step {})", checkpoint_path(cfg.resume),
             meta.position.epochs_done, meta.position.global_step);
  }
  log_info("writing to {}", out);

  const int64_t log_every = cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, steps_per_epoch / 10);
  Progress progress(/*enabled=*/log_rank() == 0, stdout_is_tty(), log_every);
  EvalResult last_eval;
  bool evaluated = false;
  for (int64_t epoch = meta.position.epochs_done; epoch < cfg.epochs; ++epoch) {
    // --- one epoch of training: batch -> forward -> loss -> backward -> step
    Stopwatch epoch_clock;
    model->train();
    LoaderSpec spec;
    spec.batch_size = cfg.batch_size;
    spec.augment = cfg.augment;
    spec.drop_last = drop_last;
    spec.seed = cfg.seed;
    spec.epoch = epoch;
    spec.prefetch = cfg.prefetch;
    BatchLoader loader(train_set, epoch_shard(shard, epoch), spec);
    progress.begin_epoch(epoch, cfg.epochs, loader.num_batches());
    EpochStats stats;
    double lr = 0;
    while (auto batch = loader.next()) {
      lr = lr_at_step(schedule, meta.position.global_step);
      set_learning_rate(*optimizer, lr);
      const auto images = batch->images.to(device, /*non_blocking=*/true);
      const auto labels = batch->labels.to(device, /*non_blocking=*/true);
      optimizer->zero_grad(/*set_to_none=*/true);
      const auto logits = model->forward(images);
      const auto loss = torch::nn::functional::cross_entropy(
          logits, labels,
          torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(cfg.label_smoothing));
      loss.backward();
      optimizer->step();
      ++meta.position.global_step;
      stats.add(loss, logits, labels);
      const int64_t step = batch->index + 1;
      if (step % log_every == 0 || step == loader.num_batches() || stdout_is_tty()) {
        const double mean_loss = stats.mean_loss();
        RT_CHECK_USER(std::isfinite(mean_loss),
                      "training diverged: the loss is not finite at epoch {} step {}; lower --lr "
                      "or add --warmup-epochs",
                      epoch + 1, step);
        progress.update(step, stats.images, mean_loss, stats.accuracy(), lr);
      }
    }
    progress.end_epoch();
    const double train_seconds = epoch_clock.seconds();

    // --- every epoch, every rank: evaluate on the test split
    last_eval = evaluate(*model, test_set, cfg.eval_batch_size, device);
    evaluated = true;
    ++meta.position.epochs_done;
    const double epoch_seconds = epoch_clock.seconds();
    meta.history.push_back({{"epoch", epoch + 1},
                            {"train_loss", stats.mean_loss()},
                            {"train_accuracy", stats.accuracy()},
                            {"test_loss", last_eval.loss()},
                            {"test_accuracy", last_eval.accuracy()},
                            {"lr", lr},
                            {"train_seconds", train_seconds},
                            {"seconds", epoch_seconds},
                            {"images_per_second", static_cast<double>(stats.images) / train_seconds}});
    log_info("epoch {}/{}: train loss {:.4f} acc {:.2f}% | test loss {:.4f} acc {:.2f}% | lr {:.4g} | "
             "{:.0f} img/s | {}",
             epoch + 1, cfg.epochs, stats.mean_loss(), 100 * stats.accuracy(), last_eval.loss(),
             100 * last_eval.accuracy(), lr, static_cast<double>(stats.images) / train_seconds,
             format_duration(epoch_seconds));

    // --- every epoch, only rank 0: history and checkpoint
    write_json_file(out + "/history.json", meta.history);
    save_checkpoint(checkpoint_path(out), *model, *optimizer, meta);
  }

  // --- end of run, only rank 0: final metrics and reports
  if (!evaluated) last_eval = evaluate(*model, test_set, cfg.eval_batch_size, device);
  RunSummary summary;
  summary.out_dir = out;
  summary.test_accuracy = last_eval.accuracy();
  double total_seconds = 0, train_seconds = 0, train_images = 0;
  int64_t best_epoch = 0;
  for (const auto& h : meta.history) {
    total_seconds += h.at("seconds").get<double>();
    train_seconds += h.at("train_seconds").get<double>();
    train_images += h.at("images_per_second").get<double>() * h.at("train_seconds").get<double>();
    if (h.at("test_accuracy").get<double>() > summary.best_test_accuracy) {
      summary.best_test_accuracy = h.at("test_accuracy").get<double>();
      best_epoch = h.at("epoch").get<int64_t>();
    }
  }
  summary.train_images_per_second = train_seconds > 0 ? train_images / train_seconds : 0;
  write_evaluation_outputs(out, last_eval, test_set.class_names,
                           {{"model", cfg.model},
                            {"param_count", meta.param_count},
                            {"epochs", meta.position.epochs_done},
                            {"steps", meta.position.global_step},
                            {"world_size", 1},
                            {"global_batch", cfg.batch_size},
                            {"test_accuracy", summary.test_accuracy},
                            {"best_test_accuracy", summary.best_test_accuracy},
                            {"best_epoch", best_epoch},
                            {"total_seconds", total_seconds},
                            {"train_seconds", train_seconds},
                            {"train_images_per_second", summary.train_images_per_second},
                            {"checkpoint", checkpoint_path(out)},
                            {"environment", config_json["environment"]}});
  log_info("done: test accuracy {:.2f}% (best {:.2f}% at epoch {}), {:.0f} img/s, {} in total; see {}/",
           100 * summary.test_accuracy, 100 * summary.best_test_accuracy, best_epoch,
           summary.train_images_per_second, format_duration(total_seconds), out);
  return summary;
}

}  // namespace rt
