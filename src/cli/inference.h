// A trained model made ready to classify, as `eval` and `predict` both need it: the checkpoint's
// model rebuilt and loaded on the device, in the run's memory format, with the precision the
// run used unless told otherwise.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "checkpoint/checkpoint.h"
#include "core/config.h"
#include "model/classifier.h"
#include "model/precision.h"

namespace rt {

struct InferenceModel {
  CheckpointMeta meta;  // model, classes, epochs, the run's config
  Config run_cfg;       // the run's configuration (config.json records its resolved values)
  std::string model_name;
  std::shared_ptr<Classifier> model;  // in eval-ready form: on the device, the run's memory format
  Precision precision = Precision::kFloat32;
};

// Reads `checkpoint` and loads its weights into a fresh model (of `expect_model` when given:
// another architecture is a UserError), on `device`; `amp` ("auto", "bf16", "none") overrides
// the run's --amp when not empty.
InferenceModel load_inference_model(const std::string& checkpoint, const std::string& expect_model,
                                    const torch::Device& device, const std::string& amp);

}  // namespace rt
