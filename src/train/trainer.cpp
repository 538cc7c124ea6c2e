// The training loop, top to bottom: set-up (train/run.h), then for each epoch and batch one
// TrainStep (train/train_step.h), then the blocks that run once in a while, each saying when
// it runs and which ranks take part. Side concerns are observers (train/observers.h).
#include "train/trainer.h"

#include <cstdlib>

#include "core/errors.h"
#include "core/log.h"
#include "core/stop_signal.h"
#include "core/timer.h"
#include "parallel/launcher.h"
#include "report/writers.h"
#include "train/epoch_stats.h"
#include "train/observers.h"
#include "train/run.h"
#include "train/run_outputs.h"
#include "train/train_step.h"

namespace rt {

namespace {

std::string stopped_message(int64_t epoch, int64_t step, const std::string& out) {
  return fmt::format(
      "stopped by signal {} in epoch {} after step {}; checkpoint saved in {}; continue "
      "with: ringtrain train --resume {}",
      stop_signal_received(), epoch + 1, step, out, out);
}

// The agreed flags of finished steps, all ranks alike: a non-finite step fails the run naming
// it, or with --skip-nonfinite is counted (its update was skipped on the device). Returns
// whether a rank was asked to stop.
bool act_on(const std::vector<StepFlags::Flags>& flags, const Run& run, int64_t epoch, int64_t& skipped_steps) {
  bool stop = false;
  for (const auto& f : flags) {
    if (f.nonfinite) {
      const auto saved = checkpoint_files(run.out);
      RT_CHECK_USER(run.cfg.skip_nonfinite,
                    "training diverged: the loss or a gradient is not finite at epoch {} step {}; the last good "
                    "checkpoint is {}; lower --lr, add --warmup-epochs, or pass --skip-nonfinite",
                    epoch + 1, f.step, run.rank == 0 && !saved.empty() ? saved.front() : "none yet");
      ++skipped_steps;
    }
    stop = stop || f.stop;
  }
  return stop;
}

Observers make_observers(Run& run, int64_t log_every, TraceRecorder*& trace) {
  Observers observers;
  if (run.rank == 0) {
    observers.add(std::make_unique<ConsoleProgress>(run.cfg.epochs, log_every));
    if (const char* file = std::getenv(kLastStepFileEnv); file && *file) {  // an elastic launcher's
      observers.add(std::make_unique<LastStepFile>(file));
    }
    if (run.cfg.tensorboard) observers.add(std::make_unique<TensorBoardEvents>(run.out + "/tensorboard"));
  }
  if (!run.cfg.sample_log.empty()) {  // all ranks
    observers.add(std::make_unique<SampleLog>(run.cfg.sample_log, run.rank, run.world));
  }
  if (!run.cfg.trace.empty()) {  // all ranks
    auto t = std::make_unique<StepTrace>(run.cfg.trace, run.cfg.trace_steps, *run.comm, run.exchange->sync(),
                                         run.device, run.resumed.state.global_step);
    trace = t->recorder();
    observers.add(std::move(t));
  }
  return observers;
}

// The record of a finished epoch: training sums over all ranks, the evaluation, communication.
EpochRecord epoch_record(Run& run, int64_t epoch, const EpochSums& sums, const EvalResult& eval, double lr,
                         double train_seconds, double seconds, double data_wait_seconds) {
  GradientSync& sync = run.exchange->sync();
  const CommStats& cs = sync.stats();
  const double steps = static_cast<double>(std::max<int64_t>(cs.steps, 1));
  EpochRecord r;
  r.epoch = epoch + 1;
  r.train_loss = sums.loss_x_images / sums.images;
  r.train_accuracy = sums.correct / sums.images;
  r.test_loss = eval.loss();
  r.test_accuracy = eval.accuracy();
  r.lr = lr;
  r.train_seconds = train_seconds;
  r.seconds = seconds;
  r.images_per_second = sums.images / train_seconds;
  r.world_size = run.world;
  r.global_batch = run.partition.global_batch;
  r.data_wait_seconds = data_wait_seconds;
  r.skipped_images = static_cast<int64_t>(sums.skipped_images);
  r.comm = {run.comm->backend(),
            sync.compression(),
            cs.buckets,
            static_cast<double>(cs.bytes_allreduced) / steps,
            cs.exposed_comm_seconds / steps,
            (train_seconds - cs.exposed_comm_seconds) / steps,
            cs.allreduce_seconds / steps,
            cs.exposed_comm_seconds / train_seconds,
            cs.allreduce_seconds > 0 ? 1.0 - cs.exposed_comm_seconds / cs.allreduce_seconds : 0.0};
  return r;
}

// End of the run: every replica's fingerprint (all ranks); metrics.json, reports, figures (only rank 0).
RunSummary finish_run(Run& run, const RunState& state, const std::vector<EpochRecord>& history, const EvalResult& eval,
                      double tta_seconds) {
  RunTotals totals = run_totals(history);
  // A job the built-in launcher restarted counts by its own clock what the epochs' do not: the
  // restarts, stalls, work done again after a failure. It all goes to training time.
  if (const double job = job_seconds(); job_restarted() && job > totals.seconds) {
    totals.train_seconds += job - totals.seconds;
    totals.seconds = job;
  }
  RunSummary summary{run.out, eval.accuracy(), totals.best_test_accuracy, totals.images_per_second()};
  const auto fingerprints =
      all_gather_strings(*run.comm, weights_fingerprint(*run.model), run.device, "weights fingerprints");
  if (run.rank == 0) {
    for (int r = 1; r < run.world; ++r) {
      if (fingerprints[r] != fingerprints[0]) {
        log_warn(
            "rank {}'s weights differ from rank 0's (fingerprint {} against {}): the replicas have drifted "
            "apart; please report this",
            r, fingerprints[r], fingerprints[0]);
      }
    }
    RunMetrics m;
    m.model = run.cfg.model;
    m.param_count = run.param_count;
    m.epochs = state.epochs_done;
    m.steps = state.global_step;
    m.world_size = run.world;
    m.global_batch = run.partition.global_batch;
    m.test_accuracy = summary.test_accuracy;
    m.best_test_accuracy = summary.best_test_accuracy;
    m.best_epoch = totals.best_epoch;
    m.tta = run.cfg.tta;
    m.test_accuracy_without_tta = history.empty() ? summary.test_accuracy : history.back().test_accuracy;
    m.tta_seconds = tta_seconds;
    m.total_seconds = totals.seconds;
    m.train_seconds = totals.train_seconds;
    m.train_images_per_second = summary.train_images_per_second;
    if (!history.empty()) m.comm_last_epoch = history.back().comm;
    m.weights_fingerprint = fingerprints[0];
    m.replica_fingerprints = fingerprints;
    m.skipped_nonfinite_steps = state.skipped_nonfinite_steps;
    double waited = 0;
    m.skipped_images = run.skipped_at_load;  // with those left out while training, epoch by epoch
    for (const auto& h : history) {
      m.skipped_images += h.skipped_images;
      waited += h.data_wait_seconds;
    }
    m.data_wait_share = totals.train_seconds > 0 ? waited / totals.train_seconds : 0;
    m.checkpoint = checkpoint_path(run.out);
    m.environment = run.environment;
    m.membership = read_membership_log(run.out + "/" + kMembershipLogFile);  // an elastic launcher's
    write_evaluation_outputs(run.out, eval, run.test_set.class_names, m);
    write_plots_or_warn(run.out);
  }
  const std::string tta =
      run.cfg.tta == "none" || history.empty()
          ? ""
          : fmt::format(" with {} TTA ({:.2f}% without)", run.cfg.tta, 100 * history.back().test_accuracy);
  log_info("done: test accuracy {:.2f}%{} (best {:.2f}% at epoch {}), {:.0f} img/s, {} in total; see {}/",
           100 * summary.test_accuracy, tta, 100 * summary.best_test_accuracy, totals.best_epoch,
           summary.train_images_per_second, format_duration(totals.seconds + tta_seconds), run.out);
  return summary;
}

}  // namespace

RunSummary train(const Config& config, const std::string& job, std::unique_ptr<CheckpointReader> resume) {
  // --- set-up, all ranks: communicator, data shard, model, optimiser, schedule, resumed state
  if (!resume && !config.resume.empty()) resume = CheckpointReader::open_newest(config.resume, torch::kCPU);
  Run run(config, job, resume.get());
  resume.reset();
  const Config& cfg = run.cfg;
  // The run state, owned here: where the run stands, and its history so far.
  RunState state = run.resumed.state;
  std::vector<EpochRecord> history = std::move(run.resumed.history);
  const int64_t log_every =
      cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, run.partition.micro_per_epoch / 10);
  TraceRecorder* trace = nullptr;  // --trace: the step's phases as spans (null when not recording)
  Observers observers = make_observers(run, log_every, trace);
  TrainStep& step = *run.step;
  EvalResult eval;
  bool evaluated = false;
  for (int64_t epoch = state.epochs_done; epoch < cfg.epochs; ++epoch) {
    // --- one epoch, all ranks: batch -> forward -> loss -> backward (buckets reduce as they
    //     fill) -> wait -> flags -> step. A resumed epoch skips the batches done and continues its sums.
    Stopwatch clock;
    step.begin_epoch();
    const EpochPlan plan = run.plan(epoch);  // this rank's micro-batches and their steps
    const auto loader = run.loader(epoch, plan);
    const double earlier_seconds = state.partial.seconds;
    EpochStats stats = run.epoch_stats();
    if (state.batch_in_epoch > 0 && run.rank == 0) stats.restore(state.partial);
    state.batch_in_epoch = 0;
    state.steps_in_epoch = 0;
    state.world_size = run.world;
    state.partial = {};
    observers.epoch_begin(epoch, loader->num_batches());
    observers.epoch_plan(epoch, plan, loader->first_batch());
    double lr = 0;
    while (true) {
      observers.step_begin();
      std::optional<Batch> batch;
      {
        TraceSpan span(trace, "data wait");
        batch = loader->next();
      }
      if (!batch) break;
      const PlannedBatch& planned = plan.batches[batch->index];
      const MicroBatch micro{planned.index,       planned.count, planned.divisor,
                             planned.step_micros, planned.size,  planned.step_images};
      if (micro.first()) step.begin(lr = lr_at(run.schedule, epoch, planned.step), epoch);
      const auto [logits, loss] = step.run(batch->images, batch->labels, micro, state.global_step + 1, trace);
      stats.add(loss, logits, batch->labels, static_cast<int64_t>(batch->skipped.size()));
      const int64_t done = batch->index + 1;
      if (micro.last()) {
        // --- every step, all ranks: act on the flags of the step before (Note [Flags one step late])
        bool stop = act_on(step.take_flags(), run, epoch, state.skipped_nonfinite_steps);
        ++state.global_step;
        observers.step_end(epoch, state.global_step);
        // --- every --checkpoint-every steps inside an epoch, or when a rank got SIGINT/SIGTERM:
        //     all ranks sum the epoch so far (and gather the compressor's state), only rank 0
        //     writes; on a signal all ranks stop
        const bool periodic = cfg.checkpoint_every > 0 && state.global_step % cfg.checkpoint_every == 0;
        if ((periodic || stop) && done < loader->num_batches()) {
          stop = act_on(step.take_flags(/*all=*/true), run, epoch, state.skipped_nonfinite_steps) || stop;
          RunState mid = state;
          mid.batch_in_epoch = done;
          mid.steps_in_epoch = planned.step + 1;
          mid.partial = stats.across_ranks();
          mid.partial.seconds = earlier_seconds + clock.seconds();
          run.save_checkpoint(mid, history);
          if (stop) throw Interrupted(stopped_message(epoch, state.global_step, run.out));
        }
      }
      // --- at progress lines, all ranks: the running means (a device read: only here)
      if (done % log_every == 0 || done == loader->num_batches() || observers.wants_progress()) {
        const auto [mean_loss, accuracy] = stats.means();
        observers.progress({done, stats.images(), mean_loss, accuracy, lr, state.global_step});
      }
    }
    act_on(step.take_flags(/*all=*/true), run, epoch, state.skipped_nonfinite_steps);
    observers.batches_end();
    const double train_seconds = earlier_seconds + clock.seconds();
    const EpochSums sums = stats.across_ranks();

    // --- every epoch, all ranks: rank 0's BatchNorm statistics everywhere, evaluate a shard
    //     each, sum the counts
    eval = run.evaluate();
    evaluated = true;
    ++state.epochs_done;
    const EpochRecord record = epoch_record(run, epoch, sums, eval, lr, train_seconds,
                                            earlier_seconds + clock.seconds(), loader->wait_seconds());
    history.push_back(record);
    log_info(
        "epoch {}/{}: train loss {:.4f} acc {:.2f}% | test loss {:.4f} acc {:.2f}% | lr {:.4g} | {:.0f} img/s | {}",
        epoch + 1, cfg.epochs, record.train_loss, 100 * record.train_accuracy, record.test_loss,
        100 * record.test_accuracy, lr, record.images_per_second, format_duration(record.seconds));
    observers.epoch_end(record, state.global_step);

    // --- every epoch: only rank 0 writes history and checkpoint (all ranks gather the
    //     compressor's state for it); then all ranks: a stop signal?
    if (run.rank == 0) write_json_file(run.out + "/history.json", history);
    run.save_checkpoint(state, history);
    if (epoch + 1 < cfg.epochs && run.any_rank(stop_signal_received() != 0)) {
      throw Interrupted(stopped_message(epoch, state.global_step, run.out));
    }
  }

  // --- end of run: the trace if its steps ran out (all ranks), the final evaluation (all
  //     ranks; with --tta of the transformed copies too), metrics and reports (only rank 0)
  observers.run_end(state.global_step);
  const Tta tta = parse_tta(cfg.tta);
  Stopwatch tta_clock;
  if (!evaluated || tta != Tta::kNone) eval = run.evaluate(tta);
  return finish_run(run, state, history, eval, tta != Tta::kNone ? tta_clock.seconds() : 0.0);
}

}  // namespace rt
