#include "core/config_table.h"

#include <algorithm>

namespace rt {

std::string ConfigField::flag() const {
  std::string f = std::string("--") + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

const std::vector<ConfigField>& config_fields() {
  using C = Config;
  static const std::vector<ConfigField> fields = {
      {"recipe", &C::recipe, "Named preset of options; --config and the flags given override it:"},
      {"data", &C::data, "CIFAR-10 folder: binary batches or train/ and test/ image folders"},
      {"limit_train", &C::limit_train, "Use a class-balanced subset of N training images (0 = all)"},
      {"limit_test", &C::limit_test, "Use a class-balanced subset of N test images (0 = all)"},
      {"augment", &C::augment, "Random crop (pad 4) + horizontal flip: true|false"},
      {"model", &C::model, "Model name (see `ringtrain models`)"},
      {"num_classes", &C::num_classes, "Classes (must match the data)"},
      {"zero_init_residual", &C::zero_init_residual, "Zero-init the last BN of each residual block", true},
      {"epochs", &C::epochs, "Epochs to train"},
      {"batch_size", &C::batch_size,
       "Images per worker per micro-batch (global batch = this x workers x --grad-accum)"},
      {"eval_batch_size", &C::eval_batch_size, "Images per evaluation batch"},
      {"lr", &C::lr, "Learning rate (peak; max for onecycle)"},
      {"momentum", &C::momentum, "SGD momentum"},
      {"nesterov", &C::nesterov, "Nesterov momentum", true},
      {"weight_decay", &C::weight_decay, "L2 weight decay"},
      {"no_decay_bn_bias", &C::no_decay_bn_bias, "Exempt BatchNorm parameters and biases from weight decay", true},
      {"schedule", &C::schedule, "multistep | cosine | onecycle | constant"},
      {"milestones", &C::milestones, "multistep: epochs where lr is multiplied by gamma"},
      {"gamma", &C::gamma, "multistep: factor at each milestone"},
      {"warmup_epochs", &C::warmup_epochs, "Linear warmup epochs (fractions allowed)"},
      {"label_smoothing", &C::label_smoothing, "Cross-entropy label smoothing"},
      {"nproc", &C::nproc, "Spawn N local workers (data-parallel; 0 = use the launcher's environment)"},
      {"max_restarts", &C::max_restarts,
       "With --nproc: restart all workers from the newest checkpoint after a failure, up to K times"},
      {"backend", &C::backend, "auto | gloo | nccl (auto: nccl on CUDA, gloo on CPU)"},
      {"bucket_mb", &C::bucket_mb, "Gradient bucket cap in MB"},
      {"sync_bn", &C::sync_bn, "BatchNorm statistics over all ranks (SyncBatchNorm)", true},
      {"grad_accum", &C::grad_accum, "Micro-batches per optimiser step (one allreduce per step)"},
      {"lr_ref_batch", &C::lr_ref_batch, "--lr is for this global batch; it is scaled linearly"},
      {"timeout", &C::timeout, "Seconds for rendezvous and each collective"},
      {"skip_nonfinite", &C::skip_nonfinite,
       "Skip steps with a non-finite loss or gradient (counted) instead of stopping", true},
      {"amp", &C::amp, "Autocast precision: auto (bf16 where the hardware has it) | bf16 | none"},
      {"channels_last", &C::channels_last, "Weights and inputs in channels_last (NHWC): true|false"},
      {"cuda_graph", &C::cuda_graph,
       "Capture forward + backward once as a CUDA graph and replay it (one process on CUDA)", true},
      {"seed", &C::seed, "Seed of initialisation, shuffling and augmentation"},
      {"threads", &C::threads, "Compute threads (0 = all cores)"},
      {"device", &C::device, "auto | cpu | cuda"},
      {"out", &C::out, "Run folder (default runs/<timestamp>)"},
      {"resume", &C::resume, "Continue the run in this folder from its checkpoint.pt"},
      {"checkpoint_every", &C::checkpoint_every, "Also checkpoint every N optimiser steps (0 = per epoch only)"},
      {"keep_checkpoints", &C::keep_checkpoints, "Checkpoints kept in the run folder"},
      {"log_every", &C::log_every, "Steps between progress lines when not on a terminal (0 = auto)"},
      {"prefetch", &C::prefetch, "Batches prepared ahead by the loader thread"},
      {"tensorboard", &C::tensorboard, "Write TensorBoard scalar event files to <out>/tensorboard", true},
      {"trace", &C::trace,
       "Write a Chrome/Perfetto trace (JSON) of the --trace-steps steps of every rank to this file"},
      {"trace_steps", &C::trace_steps, "Optimiser steps to trace: FIRST-LAST, counted from 1"},
  };
  return fields;
}

}  // namespace rt
