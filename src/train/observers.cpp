#include "train/observers.h"

#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "report/writers.h"

namespace rt {

bool Observers::wants_progress() const {
  for (const auto& o : all_) {
    if (o->wants_progress()) return true;
  }
  return false;
}

template <typename F>
void TensorBoardEvents::write(F f) {
  if (!writer_) return;
  try {
    f(*writer_);
  } catch (const std::exception& e) {
    log_warn("TensorBoard events stop here: {}", e.what());
    writer_.reset();
  }
}

void TensorBoardEvents::progress(const ProgressPoint& p) {
  write([&](TensorBoardWriter& tb) {
    tb.add_scalar("train/running_loss", p.mean_loss, p.global_step);
    tb.add_scalar("train/lr", p.lr, p.global_step);
    tb.flush(/*durable=*/false);
  });
}

void TensorBoardEvents::epoch_end(const EpochRecord& r, int64_t global_step) {
  write([&](TensorBoardWriter& tb) {
    tb.add_scalar("epoch/train_loss", r.train_loss, global_step);
    tb.add_scalar("epoch/train_accuracy", r.train_accuracy, global_step);
    tb.add_scalar("epoch/test_loss", r.test_loss, global_step);
    tb.add_scalar("epoch/test_accuracy", r.test_accuracy, global_step);
    tb.add_scalar("epoch/lr", r.lr, global_step);
    tb.add_scalar("epoch/images_per_second", r.images_per_second, global_step);
    tb.add_scalar("epoch/exposed_comm_share", r.comm.exposed_comm_share, global_step);
    tb.flush();
  });
}

StepTrace::StepTrace(const std::string& file, const std::string& steps, Communicator& comm, GradientSync& grad_sync,
                     const torch::Device& device, int64_t resumed_step)
    : file_(file), steps_(steps), comm_(comm), grad_sync_(grad_sync), device_(device) {
  const auto [first_step, last_step] = parse_step_range(steps, "--trace-steps");
  if (resumed_step >= last_step) {  // a run resumed after its traced steps keeps the trace written before
    log_info("--trace-steps {}: traced before step {} where this run resumes; {} is kept", steps, resumed_step + 1,
             file);
    return;
  }
  trace_ = std::make_shared<TraceRecorder>(comm.rank(), first_step, last_step);
  trace_->name_lane(TraceRecorder::kLoopLane, "training loop");
  grad_sync_.set_trace(trace_);
  comm_.barrier("barrier before the trace's reference instant");  // Note [Trace clocks]
  trace_->start();
  trace_->set_recording(trace_->wants(resumed_step + 1));
}

void StepTrace::step_begin() {
  if (!step_begin_) step_begin_ = TraceRecorder::Clock::now();
}

void StepTrace::step_end(int64_t epoch, int64_t global_step) {
  const auto begin = step_begin_;
  step_begin_.reset();
  if (!trace_) return;
  if (trace_->recording()) {
    trace_->add(fmt::format("step {}", global_step), TraceRecorder::kLoopLane, *begin, TraceRecorder::Clock::now(),
                {{"epoch", epoch + 1}});
  }
  // One step later, so that the last bucket's completion has surely been recorded.
  if (global_step > trace_->last_step()) {
    write();
  } else {
    trace_->set_recording(trace_->wants(global_step + 1));
  }
}

void StepTrace::run_end(int64_t global_step) {
  if (!trace_) return;
  if (comm_.rank() == 0 && global_step < trace_->last_step()) {
    log_warn("--trace-steps {}: the run ended at step {}; the trace holds the steps that ran", steps_, global_step);
  }
  write();
}

void StepTrace::write() {  // all ranks gather; only rank 0 writes
  const auto all = all_gather_strings(comm_, trace_->events_json(), device_, "trace events");
  if (comm_.rank() == 0) {
    try {
      const auto parent = std::filesystem::path(file_).parent_path();
      if (!parent.empty()) make_dirs(parent.string());
      write_json_file(file_, merge_trace(all));
      log_info("trace of steps {} (all {} ranks) written to {}", steps_, comm_.world_size(), file_);
    } catch (const std::exception& e) {
      log_warn("could not write the trace: {}", e.what());
    }
  }
  trace_.reset();
  grad_sync_.set_trace(nullptr);
}

SampleLog::SampleLog(const std::string& dir, int rank, int world)
    : file_(fmt::format("{}/samples.rank{}.jsonl", dir, rank)), rank_(rank), world_(world) {
  make_dirs(dir);
}

void SampleLog::epoch_plan(int64_t /*epoch*/, const EpochPlan& plan, int64_t first_batch) {
  plan_ = &plan;
  next_ = first_batch;
  offset_ = 0;
  for (int64_t b = 0; b < first_batch; ++b) offset_ += plan.batches[static_cast<size_t>(b)].size;
}

void SampleLog::step_end(int64_t epoch, int64_t global_step) {
  if (plan_ == nullptr || next_ >= static_cast<int64_t>(plan_->batches.size())) return;
  std::ofstream out(file_, std::ios::app);
  const int64_t step = plan_->batches[static_cast<size_t>(next_)].step;
  for (; next_ < static_cast<int64_t>(plan_->batches.size()); ++next_) {
    const PlannedBatch& b = plan_->batches[static_cast<size_t>(next_)];
    if (b.step != step) break;
    if (b.size == 0) continue;  // an empty batch (data/epoch_plan.h): no samples to log
    const auto first = plan_->samples.begin() + offset_;
    const nlohmann::json line = {{"epoch", epoch + 1},
                                 {"global_step", global_step},
                                 {"step", step + 1},
                                 {"micro", b.micro},
                                 {"rank", rank_},
                                 {"world", world_},
                                 {"samples", std::vector<int64_t>(first, first + b.size)}};
    out << line.dump() << "\n";
    offset_ += b.size;
  }
  RT_CHECK_USER(out.good(), "cannot append to {} (--sample-log); check the folder", file_);
}

void LastStepFile::step_end(int64_t /*epoch*/, int64_t global_step) {
  std::ofstream(file_, std::ios::trunc) << global_step << "\n";  // a diagnostic: a failed write costs only the figure
}

}  // namespace rt
