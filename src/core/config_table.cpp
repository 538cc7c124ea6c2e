#include "core/config_table.h"

#include <algorithm>
#include <stdexcept>

#include "core/errors.h"

namespace rt {

std::string ConfigField::flag() const {
  std::string f = std::string("--") + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

namespace {

// Why the limits are where they are (Note [Upper limits]), for the messages.
constexpr const char* kThreadsWhy = "more threads than cores only slows a machine down";
constexpr const char* kImagesWhy = "more images than any data set ringtrain reads";
constexpr const char* kImageSizeWhy = "one 4096x4096 image is 200 MB as floats";
constexpr const char* kClassesWhy = "ImageNet-21k has 21,841; the head grows with the class count";
constexpr const char* kEpochsWhy = "recipes use up to a few hundred";
constexpr const char* kBatchWhy = "a batch is allocated whole: 65536 CIFAR images are 805 MB as floats";
constexpr const char* kGlobalBatchWhy = "65536 images per worker on 1024 workers";

FieldRule rule(FieldRule::Kind kind, double lo = 0, double hi = 0) {
  FieldRule r;
  r.kind = kind;
  r.lo = lo;
  r.hi = hi;
  return r;
}
}  // namespace

FieldRule positive() { return rule(FieldRule::Kind::kPositive); }
FieldRule non_negative() { return rule(FieldRule::Kind::kNonNegative); }
FieldRule at_least(double lo) { return rule(FieldRule::Kind::kAtLeast, lo); }
FieldRule unit_interval() { return rule(FieldRule::Kind::kUnitInterval); }
FieldRule between(double lo, double hi) { return rule(FieldRule::Kind::kBetween, lo, hi); }
FieldRule FieldRule::at_most(double limit, const char* reason) const {
  FieldRule r = *this;
  r.max = limit;
  r.max_reason = reason;
  return r;
}

void check_flag_range(const std::string& flag, int64_t value, int64_t lo, int64_t hi, const char* reason) {
  RT_CHECK_USER(value >= lo && value <= hi, "{} must be in {}..{}, got {} ({})", flag, lo, hi, value, reason);
}

FieldRule one_of(std::vector<std::string> choices) {
  FieldRule r = rule(FieldRule::Kind::kOneOf);
  r.choices = std::move(choices);
  return r;
}

const std::vector<ConfigField>& config_fields() {
  using C = Config;
  static const std::vector<ConfigField> fields = {
      {"recipe", &C::recipe, "Named preset of options; --config and the flags given override it:"},
      {"data", &C::data,
       "Data folder: CIFAR-10/100 (binary, or the python version torchvision downloads) or an image folder "
       "(train/<class>/, val/ or test/)"},
      {"limit_train", &C::limit_train, "Use a class-balanced subset of N training images (0 = all)", false,
       non_negative().at_most(kMaxImages, kImagesWhy)},
      {"limit_test", &C::limit_test, "Use a class-balanced subset of N test images (0 = all)", false,
       non_negative().at_most(kMaxImages, kImagesWhy)},
      {"augment", &C::augment,
       "Training augmentation: 32x32 random crop (pad 4), larger images random resized crop; + flip: true|false"},
      {"translate", &C::translate,
       "32x32 augmentation: shift by up to N pixels each way (a 32x32 crop of the image padded by N)", false,
       between(0, 16)},
      {"pad_mode", &C::pad_mode, "32x32 augmentation: pad the shifts with zeros | reflect (torch's 'reflect')", false,
       one_of({"zeros", "reflect"})},
      {"flip", &C::flip,
       "32x32 augmentation: random (each sample and epoch) | alternate (a sample's own coin, reversed every other "
       "epoch: Jordan 2024) | none",
       false, one_of({"random", "alternate", "none"})},
      {"image_size", &C::image_size, "Model input side S for image folders of any size (0 = 32, or 224 for larger)",
       false, non_negative().at_most(kMaxImageSize, kImageSizeWhy)},
      {"normalize", &C::normalize, "Normalisation statistics: auto | cifar10 | imagenet | computed (training split)",
       false, one_of({"auto", "cifar10", "imagenet", "computed"})},
      {"mean", &C::mean, "Per-channel normalisation mean r,g,b (overrides --normalize)"},
      {"std", &C::std, "Per-channel normalisation std r,g,b (overrides --normalize)"},
      {"dct_scaling", &C::dct_scaling,
       "Decode JPEGs at 1/2-1/8 scale where the crop keeps >= S pixels (false: torchvision's pixels exactly): "
       "true|false"},
      {"skip_bad_images", &C::skip_bad_images, "Leave out unreadable image files (counted in metrics.json)", true},
      {"loader_threads", &C::loader_threads, "Threads decoding batches (0 = 1 for data in memory, all cores for files)",
       false, non_negative().at_most(kMaxThreads, kThreadsWhy)},
      {"cache_dir", &C::cache_dir,
       "Image files: store each image once resized to --max-side in this folder, and read it from there "
       "(made again when its source changes)"},
      {"max_side", &C::max_side, "The cache's images' longer side at most (pixels)", false, between(16, 4096)},
      {"cache_format", &C::cache_format, "The cache's entries: jpeg (quality 95) | raw (pixels: larger, no decoding)",
       false, one_of({"jpeg", "raw"})},
      {"model", &C::model, "Model name (see `ringtrain models`)"},
      {"stem", &C::stem,
       "ResNet stem: auto (imagenet above 64 px for torchvision ResNets) | cifar (3x3) | imagenet (7x7/2 + max-pool)",
       false, one_of({"auto", "cifar", "imagenet"})},
      {"init_from", &C::init_from,
       "Start from the weights of a torch.save'd state_dict (e.g. torchvision's); a head (fc) of another class "
       "count starts fresh"},
      {"num_classes", &C::num_classes,
       "Classes of the model's head: 0 (the default) takes the data's class count; another value must match it", false,
       non_negative().at_most(kMaxClasses, kClassesWhy)},
      {"zero_init_residual", &C::zero_init_residual, "Zero-init the last BN of each residual block", true},
      {"epochs", &C::epochs, "Epochs to train", false, positive().at_most(kMaxEpochs, kEpochsWhy)},
      {"batch_size", &C::batch_size, "Images per worker per micro-batch (global batch = this x workers x --grad-accum)",
       false, positive().at_most(kMaxBatch, kBatchWhy)},
      {"eval_batch_size", &C::eval_batch_size, "Images per evaluation batch", false,
       positive().at_most(kMaxBatch, kBatchWhy)},
      {"tta", &C::tta,
       "Test-time augmentation of the final test: none | flip (mean with the mirror) | flip-translate (and "
       "shifted by 1 px: Jordan 2024)",
       false, one_of({"none", "flip", "flip-translate"})},
      {"lr", &C::lr, "Learning rate (peak; max for onecycle)", false, positive()},
      {"momentum", &C::momentum, "SGD momentum", false, unit_interval()},
      {"nesterov", &C::nesterov, "Nesterov momentum", true},
      {"weight_decay", &C::weight_decay, "L2 weight decay", false, non_negative()},
      {"no_decay_bn_bias", &C::no_decay_bn_bias, "Exempt BatchNorm parameters and biases from weight decay", true},
      {"bn_bias_lr_mult", &C::bn_bias_lr_mult,
       "BatchNorm biases learn at this multiple of --lr, with the same weight decay per step (64 in Jordan 2024)",
       false, positive().at_most(1e6, "a multiple of the learning rate")},
      {"whiten_bias_epochs", &C::whiten_bias_epochs,
       "A whitening layer's bias (airbench94) is trained in the first N epochs only (0: in all)", false,
       non_negative().at_most(kMaxEpochs, kEpochsWhy)},
      {"schedule", &C::schedule, "multistep | cosine | onecycle | constant | triangle", false,
       one_of({"multistep", "cosine", "onecycle", "constant", "triangle"})},
      {"triangle_start", &C::triangle_start, "triangle: the learning rate's factor at the first step", false,
       non_negative()},
      {"triangle_peak", &C::triangle_peak, "triangle: where the factor reaches 1, as a fraction of the steps", false,
       between(0, 1)},
      {"triangle_end", &C::triangle_end, "triangle: the factor at the last step", false, non_negative()},
      {"milestones", &C::milestones, "multistep: epochs where lr is multiplied by gamma"},
      {"gamma", &C::gamma, "multistep: factor at each milestone"},
      {"warmup_epochs", &C::warmup_epochs, "Linear warmup epochs (fractions allowed)"},
      {"label_smoothing", &C::label_smoothing, "Cross-entropy label smoothing", false, unit_interval()},
      {"ema_every", &C::ema_every,
       "Every N steps move an average of the weights toward them and set the weights to it (lookahead, Jordan "
       "2024); the run ends on the average (0: off)",
       false, non_negative().at_most(1000000, "steps between updates")},
      {"ema_rate", &C::ema_rate, "--ema-every: the decay per step (the update's is rate^N x (step / steps)^power)",
       false, unit_interval()},
      {"ema_power", &C::ema_power, "--ema-every: the power of the run's progress in the decay", false, non_negative()},
      {"nproc", &C::nproc, "Spawn N local workers (data-parallel; 0 = use the launcher's environment)", false,
       between(0, kMaxWorkers)},
      {"max_restarts", &C::max_restarts,
       "With --nproc: restart all workers from the newest checkpoint after a failure, up to K times", false,
       non_negative().at_most(kMaxRestarts, "a job that failed that often will not succeed")},
      {"min_nproc", &C::min_nproc,
       "With --nproc and --max-restarts: a worker that fails twice is dropped and the job goes on with fewer, down "
       "to M (needs --global-batch when M < N, so that fewer workers train alike)",
       false, between(0, kMaxWorkers)},
      {"backend", &C::backend, "auto | gloo | nccl (auto: nccl on CUDA, gloo on CPU)", false,
       one_of({"auto", "gloo", "nccl"})},
      {"bucket_mb", &C::bucket_mb, "Gradient bucket cap in MB", false,
       positive().at_most(kMaxBucketMb, "a bucket is allocated whole; DDP's default is 25")},
      {"sync_bn", &C::sync_bn, "BatchNorm statistics over all ranks (SyncBatchNorm)", true},
      {"grad_compression", &C::grad_compression,
       "Gradients between ranks: none (fp32), bf16 or fp16 (half the bytes; rounding of the averaged gradient "
       "to 8 or 11 significant bits), powersgd:R (rank-R PowerSGD with error feedback, as DDP's hook: far fewer "
       "bytes, a biased step that can cost accuracy; see docs/performance.md)"},
      {"powersgd_warmup", &C::powersgd_warmup,
       "Optimiser steps allreduced uncompressed before PowerSGD starts (DDP's start_powerSGD_iter)", false,
       non_negative()},
      {"grad_accum", &C::grad_accum, "Micro-batches per optimiser step (one allreduce per step)", false,
       at_least(1).at_most(kMaxGradAccum, "use a larger --batch-size")},
      {"global_batch", &C::global_batch,
       "Images per optimiser step whatever the number of workers (0 = batch x workers x --grad-accum): the epoch is "
       "cut into micro-batches of --batch-size that meet alike on any world size, each worker accumulating its "
       "share (a multiple of --batch-size x workers)",
       false, non_negative().at_most(kMaxGlobalBatch, kGlobalBatchWhy)},
      {"lr_ref_batch", &C::lr_ref_batch, "--lr is for this global batch; it is scaled linearly", false,
       at_least(1).at_most(kMaxGlobalBatch, kGlobalBatchWhy)},
      {"timeout", &C::timeout, "Seconds for rendezvous and each collective", false,
       positive().at_most(kMaxTimeoutSeconds, "one week; a stalled peer must end the job")},
      {"skip_nonfinite", &C::skip_nonfinite,
       "Skip steps with a non-finite loss or gradient (counted) instead of stopping", true},
      {"amp", &C::amp, "Autocast precision: auto (bf16 where the hardware has it) | bf16 | none", false,
       one_of({"auto", "bf16", "none"})},
      {"channels_last", &C::channels_last, "Weights and inputs in channels_last (NHWC): true|false"},
      {"cuda_graph", &C::cuda_graph,
       "Capture forward + backward once as a CUDA graph and replay it (one process on CUDA)", true},
      {"cudnn_benchmark", &C::cudnn_benchmark,
       "On CUDA, cuDNN times its candidate kernels for each new input shape and keeps the fastest (false: its "
       "heuristics pick, with no search; the search costs seconds per shape in the first epoch): true|false"},
      {"seed", &C::seed, "Seed of initialisation, shuffling and augmentation"},
      {"threads", &C::threads, "Compute threads (0 = all cores)", false,
       non_negative().at_most(kMaxThreads, kThreadsWhy)},
      {"device", &C::device, "auto | cpu | cuda", false, one_of({"auto", "cpu", "cuda"})},
      {"out", &C::out, "Run folder (default runs/<timestamp>)"},
      {"resume", &C::resume, "Continue the run in this folder from its newest checkpoint"},
      {"checkpoint_every", &C::checkpoint_every, "Also checkpoint every N optimiser steps (0 = per epoch only)", false,
       non_negative()},
      {"keep_checkpoints", &C::keep_checkpoints, "Checkpoints kept in the run folder", false,
       at_least(1).at_most(kMaxKeptCheckpoints, "each is a full copy of the model and optimiser")},
      {"log_every", &C::log_every, "Steps between progress lines when not on a terminal (0 = auto)", false,
       non_negative()},
      {"prefetch", &C::prefetch, "Batches prepared ahead by the loader thread", false,
       at_least(1).at_most(kMaxPrefetch, "each batch waits whole in memory; 2-4 hide the loading")},
      {"tensorboard", &C::tensorboard, "Write TensorBoard scalar event files to <out>/tensorboard", true},
      {"trace", &C::trace,
       "Write a Chrome/Perfetto trace (JSON) of the --trace-steps steps of every rank to this file"},
      {"trace_steps", &C::trace_steps, "Optimiser steps to trace: FIRST-LAST, counted from 1"},
      {"sample_log", &C::sample_log,
       "Diagnostic: every rank appends the samples of each micro-batch it trains to DIR/samples.rank<R>.jsonl"},
  };
  return fields;
}

const ConfigField& config_field(const std::string& key) {
  for (const auto& f : config_fields()) {
    if (key == f.key) return f;
  }
  throw std::logic_error("no option '" + key + "' in the config table");
}

}  // namespace rt
