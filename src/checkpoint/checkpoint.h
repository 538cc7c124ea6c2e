// Checkpoints: model (parameters and buffers), optimiser (momentum buffers), training
// position (epochs done, optimiser steps: the scheduler's whole state), the run's history,
// its config, the CPU generator state, and the gradient compressor's state (PowerSGD: every
// rank's error feedback and the shared Q). Other random streams are derived from the seed
// and position (core/seed.h), so nothing else is needed to resume exactly.
// A checkpoint is data only (Note [Checkpoint format]): a safetensors file whose metadata holds
// the typed fields as JSON and whose checksum covers the whole file. Reading it runs no code,
// and every tensor, shape, dtype and field is checked before it is used: against the file (its
// ranges), the model (its parameters and buffers), the generator (its state size) and the
// gradient compressor (parallel/grad_sync.h). Files are written atomically (temp file, fsync,
// rename). A run folder keeps the newest `keep` checkpoints: checkpoint.safetensors, then
// checkpoint.1.safetensors (the one before), ...
#pragma once

#include <torch/torch.h>

#include <array>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "checkpoint/run_state.h"
#include "model/classifier.h"
#include "report/records.h"

namespace rt {

// The gradient compressor's state (parallel/grad_sync.h gather_compression_state) as a run of
// `world` ranks saved it: empty for none/bf16/fp16 and before PowerSGD starts.
struct SavedCompression {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  int64_t world = 0;
  bool empty() const { return tensors.empty(); }
};

struct CheckpointMeta {
  std::string model;  // registry name
  int64_t num_classes = 0;
  int64_t param_count = 0;
  RunState state;
  std::string job;        // the job that wrote it (parallel/rendezvous.h job_identity; "" before jobs were recorded)
  nlohmann::json config;  // the run's Config as JSON
  std::vector<EpochRecord> history;  // history.json entries so far
  std::vector<std::string> class_names;
  SavedCompression grad_compression;                             // --grad-compression's state
  std::vector<std::pair<std::string, torch::Tensor>> lookahead;  // --ema-every's weight average, by name
};

void save_checkpoint(const std::string& path, Classifier& model, torch::optim::Optimizer& opt,
                     const CheckpointMeta& meta);

// Saves `dir`/checkpoint.safetensors, first shifting the older ones (-> checkpoint.1.safetensors
// ...) so that the newest `keep` remain. At every moment a complete checkpoint exists.
void save_checkpoint_rotating(const std::string& dir, int64_t keep, Classifier& model, torch::optim::Optimizer& opt,
                              const CheckpointMeta& meta);

// The checkpoint files of a run folder, newest first (those that exist).
std::vector<std::string> checkpoint_files(const std::string& dir);
// The name of a run folder's newest checkpoint, or with `age` i of the i-th older one
// (checkpoint.i.safetensors), whether it exists or not.
std::string checkpoint_path(const std::string& dir, int64_t age = 0);

// CRC-32 (hex) of every parameter and buffer, in name order: equal fingerprints mean
// bitwise-identical models (recorded in metrics.json to compare runs).
std::string weights_fingerprint(Classifier& model);

// Reads a checkpoint file once, checking all of it; then its parts can be loaded into objects.
class CheckpointReader {
 public:
  // Throws UserError if the file is missing, truncated, corrupt, crafted, of the old executable
  // format, or not a ringtrain checkpoint.
  CheckpointReader(const std::string& path, const torch::Device& device);
  // The same from bytes already read; `path` names them in messages (the fuzzing harness).
  CheckpointReader(const std::vector<unsigned char>& bytes, const std::string& path, const torch::Device& device);
  const CheckpointMeta& meta() const { return meta_; }
  // Loads weights into `model`; throws UserError if it is another architecture/class count.
  void load_model(Classifier& model);
  // Loads the momentum buffers of `model`'s parameters into `opt` (made for `model`).
  void load_optimizer(torch::optim::Optimizer& opt, Classifier& model);
  void restore_rng();
  const std::string& path() const { return path_; }
  // The file's CRC-32 (8 hex digits): equal on two ranks only if they read the same checkpoint.
  const std::string& checksum() const { return checksum_; }

  // The newest checkpoint of `dir` that can be read; warns about each one skipped, whatever
  // was wrong with it. Throws UserError when there is none.
  static std::unique_ptr<CheckpointReader> open_newest(const std::string& dir, const torch::Device& device);

 private:
  void read(const std::vector<unsigned char>& bytes);
  // The tensor `name` (on the CPU), checked to be `dtype` with `shape`.
  const torch::Tensor& tensor(const std::string& name, torch::ScalarType dtype, c10::IntArrayRef shape) const;

  std::string path_, checksum_;
  torch::Device device_;
  std::map<std::string, torch::Tensor> tensors_;  // every tensor of the file, on the CPU
  CheckpointMeta meta_;
};

}  // namespace rt
