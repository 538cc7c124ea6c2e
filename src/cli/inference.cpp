#include "cli/inference.h"

#include "model/registry.h"

namespace rt {

InferenceModel load_inference_model(const std::string& checkpoint, const std::string& expect_model,
                                    const torch::Device& device, const std::string& amp) {
  CheckpointReader reader(checkpoint, device);
  InferenceModel m;
  m.meta = reader.meta();
  m.model_name = expect_model.empty() ? m.meta.model : expect_model;
  check_model_name(m.model_name);
  m.run_cfg = config_from_json(m.meta.config, checkpoint);
  m.model = make_model(m.model_name, m.meta.num_classes, false,
                       resolve_stem(m.run_cfg.stem, m.run_cfg.image_size, m.model_name));
  m.model->to(device);
  reader.load_model(*m.model);  // refuses another architecture or class count
  // The run's precision and memory format, so that its final accuracy is reproduced exactly.
  if (m.run_cfg.channels_last) to_channels_last(*m.model);
  m.precision = resolve_precision(amp.empty() ? m.run_cfg.amp : amp, device);
  return m;
}

}  // namespace rt
