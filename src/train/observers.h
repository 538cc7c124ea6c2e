// The side concerns of a training run hang off one small interface that the loop calls at a
// few points; the loop does not know what they do: the console progress (rank 0), TensorBoard
// scalars (rank 0) and the --trace timeline (all ranks).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/trace.h"
#include "data/epoch_plan.h"
#include "parallel/communicator.h"
#include "parallel/grad_sync.h"
#include "report/records.h"
#include "report/tensorboard.h"
#include "train/progress.h"

namespace rt {

// Running values of the epoch so far, at a progress line.
struct ProgressPoint {
  int64_t batches_done = 0;  // micro-batches of this epoch
  int64_t images = 0;        // trained on by all ranks since the epoch (or its resumption) began
  double mean_loss = 0, accuracy = 0, lr = 0;
  int64_t global_step = 0;
};

class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void epoch_begin(int64_t /*epoch*/, int64_t /*batches*/) {}
  // This rank's share of the epoch, trained from batch `first_batch` on (a resumed epoch skips some).
  virtual void epoch_plan(int64_t /*epoch*/, const EpochPlan& /*plan*/, int64_t /*first_batch*/) {}
  virtual void step_begin() {}  // a step's first data wait starts
  // After optimiser step `global_step` (1-based). A collective for observers of all ranks.
  virtual void step_end(int64_t /*epoch*/, int64_t /*global_step*/) {}
  virtual bool wants_progress() const { return false; }  // a live display is due for a redraw
  virtual void progress(const ProgressPoint&) {}
  virtual void batches_end() {}  // the epoch's batches are done (evaluation follows)
  virtual void epoch_end(const EpochRecord&, int64_t /*global_step*/) {}
  virtual void run_end(int64_t /*global_step*/) {}  // a collective for observers of all ranks
};

// The observers of a run, called in order.
class Observers {
 public:
  void add(std::unique_ptr<TrainingObserver> o) { all_.push_back(std::move(o)); }
  void epoch_begin(int64_t epoch, int64_t batches) {
    for (auto& o : all_) o->epoch_begin(epoch, batches);
  }
  void epoch_plan(int64_t epoch, const EpochPlan& plan, int64_t first_batch) {
    for (auto& o : all_) o->epoch_plan(epoch, plan, first_batch);
  }
  void step_begin() {
    for (auto& o : all_) o->step_begin();
  }
  void step_end(int64_t epoch, int64_t step) {
    for (auto& o : all_) o->step_end(epoch, step);
  }
  bool wants_progress() const;
  void progress(const ProgressPoint& p) {
    for (auto& o : all_) o->progress(p);
  }
  void batches_end() {
    for (auto& o : all_) o->batches_end();
  }
  void epoch_end(const EpochRecord& r, int64_t step) {
    for (auto& o : all_) o->epoch_end(r, step);
  }
  void run_end(int64_t step) {
    for (auto& o : all_) o->run_end(step);
  }

 private:
  std::vector<std::unique_ptr<TrainingObserver>> all_;
};

// The console: a live bar on a terminal, otherwise a line every `every` micro-batches.
class ConsoleProgress : public TrainingObserver {
 public:
  ConsoleProgress(int64_t epochs, int64_t every) : epochs_(epochs), progress_(true, stdout_is_tty(), every) {}
  void epoch_begin(int64_t epoch, int64_t batches) override { progress_.begin_epoch(epoch, epochs_, batches); }
  bool wants_progress() const override { return progress_.wants_redraw(); }
  void progress(const ProgressPoint& p) override {
    progress_.update(p.batches_done, p.images, p.mean_loss, p.accuracy, p.lr);
  }
  void batches_end() override { progress_.end_epoch(); }

 private:
  int64_t epochs_;
  Progress progress_;
};

// --tensorboard: running loss and lr at progress lines, the epoch's record at its end. A
// failure to write (a full disk) is a warning and the events stop: rank 0 must never stop
// alone while the others wait in a collective.
class TensorBoardEvents : public TrainingObserver {
 public:
  explicit TensorBoardEvents(const std::string& logdir) : writer_(std::make_unique<TensorBoardWriter>(logdir)) {}
  void progress(const ProgressPoint& p) override;
  void epoch_end(const EpochRecord& r, int64_t global_step) override;

 private:
  template <typename F>
  void write(F f);
  std::unique_ptr<TensorBoardWriter> writer_;
};

// --trace FILE --trace-steps A-B: every rank records the chosen steps (core/trace.h), with each
// gradient bucket's allreduce (GradientSync); once they are done (one step later, so that the
// last completions are in) or at the end of the run, the ranks gather them and rank 0 writes
// one Chrome trace file. A diagnostic: failing to write it is a warning.
class StepTrace : public TrainingObserver {
 public:
  // Starts recording (a barrier: all ranks construct it). `resumed_step`: steps already done.
  StepTrace(const std::string& file, const std::string& steps, Communicator& comm, GradientSync& grad_sync,
            const torch::Device& device, int64_t resumed_step);
  TraceRecorder* recorder() const { return trace_.get(); }
  void step_begin() override;
  void step_end(int64_t epoch, int64_t global_step) override;
  void run_end(int64_t global_step) override;

 private:
  void write();
  std::string file_, steps_;
  Communicator& comm_;
  GradientSync& grad_sync_;
  torch::Device device_;
  std::shared_ptr<TraceRecorder> trace_;
  std::optional<TraceRecorder::Clock::time_point> step_begin_;  // of the step in progress
};

// --sample-log DIR (all ranks; a diagnostic): the samples of every finished step's
// micro-batches, one JSON line each ({"epoch", "global_step", "step", "micro", "rank", "world",
// "samples"}), appended to DIR/samples.rank<R>.jsonl, so that a test can check that every
// sample is used once per epoch across restarts and resizes. Steps are 1-based, epochs too;
// empty batches are not logged.
class SampleLog : public TrainingObserver {
 public:
  SampleLog(const std::string& dir, int rank, int world);
  void epoch_plan(int64_t epoch, const EpochPlan& plan, int64_t first_batch) override;
  void step_end(int64_t epoch, int64_t global_step) override;

 private:
  std::string file_;
  int rank_, world_;
  const EpochPlan* plan_ = nullptr;  // the epoch in progress (the loop's; it outlives the epoch's steps)
  int64_t next_ = 0;                 // its first batch not yet logged
  int64_t offset_ = 0;               // where that batch's samples start
};

// Under an elastic launcher (rank 0): the last optimiser step finished, kept in a file that the
// launcher reads when a worker fails (parallel/launcher.h), so that the work lost is known.
class LastStepFile : public TrainingObserver {
 public:
  explicit LastStepFile(std::string file) : file_(std::move(file)) {}
  void step_end(int64_t epoch, int64_t global_step) override;

 private:
  std::string file_;
};

}  // namespace rt
