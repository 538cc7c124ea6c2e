// A timeline of chosen training steps in Chrome's trace-event format (chrome://tracing,
// ui.perfetto.dev), as Horovod's timeline: per rank, data wait, forward, backward, each
// gradient bucket's allreduce from launch to completion, the wait for it and the optimiser
// step. Each rank records its own events; the trainer gathers them and rank 0 writes one file.
//
// Note [Trace clocks]: times are microseconds since a reference instant every rank takes right
// after a barrier (start()); ranks on one host share the monotonic clock, so the skew between
// ranks is the barrier's exit skew (tens of microseconds on one host, about one network latency
// across hosts).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

class TraceRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  // Lanes (trace "threads") of a rank: the training loop, and one per gradient bucket.
  static constexpr int kLoopLane = 0;
  static int bucket_lane(size_t bucket) { return 100 + static_cast<int>(bucket); }

  TraceRecorder(int rank, int64_t first_step, int64_t last_step)
      : rank_(rank), first_step_(first_step), last_step_(last_step) {}

  // The reference instant (after a barrier on every rank, see Note [Trace clocks]).
  void start() { t0_ = Clock::now(); }
  // Whether optimiser step `step` (1-based) is one of the traced ones.
  bool wants(int64_t step) const { return step >= first_step_ && step <= last_step_; }
  int64_t last_step() const { return last_step_; }
  // Recording on or off (on for the traced steps only).
  void set_recording(bool on) { recording_ = on; }
  bool recording() const { return recording_; }

  // A complete event ("ph": "X"). Thread-safe: bucket completions arrive on the
  // communication library's threads.
  void add(const std::string& name, int lane, Clock::time_point begin, Clock::time_point end,
           nlohmann::json args = nlohmann::json::object());
  // Names a lane in the viewer.
  void name_lane(int lane, const std::string& name);

  // This rank's events (with its process and lane names) as JSON text, for gathering.
  std::string events_json() const;

 private:
  double micros(Clock::time_point t) const { return std::chrono::duration<double, std::micro>(t - t0_).count(); }
  int rank_;
  int64_t first_step_, last_step_;
  bool recording_ = false;
  Clock::time_point t0_ = Clock::now();
  mutable std::mutex mu_;
  nlohmann::json events_ = nlohmann::json::array();
};

// Scoped event: records [construction, destruction) on `lane` when the recorder is recording.
class TraceSpan {
 public:
  TraceSpan(TraceRecorder* recorder, std::string name, int lane = TraceRecorder::kLoopLane)
      : recorder_(recorder && recorder->recording() ? recorder : nullptr),
        name_(std::move(name)),
        lane_(lane),
        begin_(TraceRecorder::Clock::now()) {}
  ~TraceSpan() {
    if (recorder_) recorder_->add(name_, lane_, begin_, TraceRecorder::Clock::now());
  }
  TraceSpan(const TraceSpan&) = delete;
  TraceSpan& operator=(const TraceSpan&) = delete;

 private:
  TraceRecorder* recorder_;
  std::string name_;
  int lane_;
  TraceRecorder::Clock::time_point begin_;
};

// Parses "FIRST-LAST" (1-based optimiser steps, FIRST <= LAST) or "N" (one step); throws
// UserError naming `flag` otherwise.
std::pair<int64_t, int64_t> parse_step_range(const std::string& text, const std::string& flag);

// One trace file from every rank's events_json(): {"traceEvents": [...], "displayTimeUnit": "ms"}.
nlohmann::json merge_trace(const std::vector<std::string>& rank_events);

}  // namespace rt
