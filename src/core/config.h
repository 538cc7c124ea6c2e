// Config: every option of a training or evaluation run, in one plain struct. Parsed once in
// cli/, validated once (validate()), written as config.json, printed by rank 0 as a table.
// JSON keys are the field names; flags are the same names with dashes (--batch-size).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rt {

struct Config {
  // --- data
  std::string data;         // CIFAR-10/100 binary batches or an image folder (train/, val/ or test/)
  int64_t limit_train = 0;  // class-balanced subset of the train split; 0 = all
  int64_t limit_test = 0;   // class-balanced subset of the test split; 0 = all
  bool augment = true;      // 32x32: random crop (4-pixel zero padding) + flip; larger: random resized crop + flip
  int64_t translate = 4;    // 32x32: shifts of up to N pixels each way (a crop of the image padded by N)
  std::string pad_mode = "zeros";     // 32x32: the padding of those shifts: zeros | reflect
  std::string flip = "random";        // 32x32: random | alternate (every other epoch, Jordan 2024) | none
  int64_t image_size = 0;             // model input side; 0 = the data's own (32; 224 for larger images)
  std::string normalize = "auto";     // auto | cifar10 | imagenet | computed (statistics of the training split)
  std::string mean, std;              // "r,g,b": normalisation statistics, overriding --normalize
  bool skip_bad_images = false;       // leave out unreadable image files (counted) instead of stopping
  bool dct_scaling = true;            // decode JPEGs at 1/2, 1/4, 1/8 scale where the crop keeps >= S pixels
  int64_t loader_threads = 0;         // threads building batches; 0 = 1 for data in memory, all cores for files
  std::string cache_dir;              // image files: a resized-image cache here (data/image_cache.h); "" = none
  int64_t max_side = 512;             // its images' longer side at most
  std::string cache_format = "jpeg";  // jpeg (quality 95) | raw (pixels)

  // --- model
  std::string model = "resnet50";   // see `ringtrain models`
  std::string stem = "auto";        // ResNet stem: cifar (3x3) | imagenet (7x7/2 + max-pool) | auto (by image size)
  std::string init_from;            // start from a torch.save'd state_dict; a head of another class count starts fresh
  int64_t num_classes = 0;          // 0: the data set's class count (written back); else must equal it
  bool zero_init_residual = false;  // zero the last BN weight of each residual block

  // --- optimisation (reference: SGD 0.9, wd 1e-4, lr 0.1, multistep [5,8] x0.1, batch 128)
  int64_t epochs = 10;
  int64_t batch_size = 128;       // images per worker per micro-batch (PyTorch convention)
  int64_t eval_batch_size = 500;  // images per evaluation forward pass
  std::string tta = "none";       // the final test's test-time augmentation: none | flip | flip-translate
  double lr = 0.1;                // peak learning rate (after warmup; max lr for onecycle)
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 1e-4;
  bool no_decay_bn_bias = false;             // exempt BatchNorm parameters and biases from weight decay
  double bn_bias_lr_mult = 1;                // BatchNorm biases: lr x this, the same decay per step
  int64_t whiten_bias_epochs = 0;            // a whitening layer's bias is trained this many epochs (0: all)
  std::string schedule = "multistep";        // multistep | cosine | onecycle | constant
  std::vector<int64_t> milestones = {5, 8};  // multistep: epochs where lr *= gamma
  double gamma = 0.1;                        // multistep factor
  double warmup_epochs = 0;                  // linear warmup from lr/steps to lr (not for onecycle, triangle)
  double triangle_start = 0.2, triangle_peak = 0.23, triangle_end = 0.07;  // triangle: lr factors, peak position
  double label_smoothing = 0;                                              // cross-entropy label smoothing in [0, 1)
  int64_t ema_every = 0;                  // lookahead to a weight average every N steps (0: off; train/lookahead.h)
  double ema_rate = 0.95, ema_power = 3;  // its decay: rate^N x (step / steps)^power
  bool skip_nonfinite = false;            // skip a step whose loss or gradient is not finite (else stop)
  std::string amp = "auto";               // autocast: auto (bf16 where native) | bf16 | none
  bool channels_last = false;             // weights and inputs in NHWC memory format
  bool cuda_graph = false;                // replay forward + backward as a CUDA graph (model/cuda_graph.h)
  bool cudnn_benchmark = true;            // CUDA: cuDNN times its candidate kernels once per new shape
  std::string recipe;                     // the named preset the run started from (core/recipes.h); "" = none

  // --- distribution (world size comes from the launcher's environment or --nproc)
  int64_t nproc = 0;                      // built-in launcher: spawn this many local workers (0 = off)
  int64_t max_restarts = 0;               // built-in launcher: restart the group after a failure
  int64_t min_nproc = 0;                  // built-in launcher: drop failing workers down to this many (0: never)
  std::string backend = "auto";           // auto | gloo | nccl (auto: nccl on CUDA, gloo on CPU)
  double bucket_mb = 25;                  // gradient bucket cap in MB (as DDP's bucket_cap_mb)
  bool sync_bn = false;                   // BatchNorm statistics over all ranks (else rank 0's buffers)
  std::string grad_compression = "none";  // none | bf16 | fp16 | powersgd:R (core/grad_compression.h)
  int64_t powersgd_warmup = 1000;         // optimiser steps allreduced uncompressed before PowerSGD starts
  int64_t grad_accum = 1;                 // micro-batches per optimiser step (communicate once)
  int64_t global_batch = 0;               // > 0: steps of this many images whatever the world size
  int64_t lr_ref_batch = 128;             // --lr is for this global batch; scaled linearly to the real one
  double timeout = 120;                   // seconds for rendezvous and every collective

  // --- run
  uint64_t seed = 0;                // seeds init, shuffling and augmentation (core/seed.h)
  int64_t threads = 0;              // compute threads; 0 = all cores of this machine
  std::string device = "auto";      // auto | cpu | cuda
  std::string out;                  // run folder; empty = runs/<timestamp>
  std::string resume;               // run folder to continue from its newest good checkpoint
  int64_t checkpoint_every = 0;     // also checkpoint every N optimiser steps (0: per epoch only)
  int64_t keep_checkpoints = 2;     // checkpoints kept in the run folder (newest first)
  int64_t log_every = 0;            // steps between plain progress lines; 0 = ~10 per epoch
  int64_t prefetch = 3;             // batches prepared ahead by the loader thread
  bool tensorboard = false;         // scalar event files in <out>/tensorboard (rank 0)
  std::string trace;                // Chrome trace file of the steps in trace_steps (rank 0 writes)
  std::string sample_log;           // folder: each rank appends its micro-batches' samples (a diagnostic)
  std::string trace_steps = "3-5";  // optimiser steps traced, "FIRST-LAST" counted from 1
};

// Throws UserError naming the first invalid option and the fix.
void validate(const Config& c);

nlohmann::json to_json(const Config& c);
// Reads the keys present in `j` over the defaults. An unknown key, or a value of another type
// than its field's (a string for a number, 2.5 for a count, a number past int64), is a
// UserError naming `source` (the file the values came from), the key and the type expected.
Config config_from_json(const nlohmann::json& j, const std::string& source = "configuration");

}  // namespace rt
