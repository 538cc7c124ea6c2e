// The one place where differences between LibTorch versions are hidden. ringtrain pins the
// PyPI torch 2.11 wheel (scripts/setup.sh); Debian's libtorch-dev 1.13 is the documented
// fallback and differs in the spellings below.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include <string>

namespace rt {

inline std::string torch_version_string() { return TORCH_VERSION; }

// State of the default CPU generator as a uint8 tensor, and its restoration.
inline at::Tensor cpu_rng_state() { return at::Tensor(at::detail::getDefaultCPUGenerator().get_state()); }
inline void set_cpu_rng_state(const at::Tensor& state) {
#if TORCH_VERSION_MAJOR >= 2
  at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle to the same generator
  gen.set_state(state);
#else  // 1.13: set_state takes the TensorImpl
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(*state.unsafeGetTensorImpl());
#endif
}

// Whether `state` is one the CPU generator accepts (tried on a scratch generator, so the
// default one is untouched whatever the answer).
inline bool is_valid_cpu_rng_state(const at::Tensor& state) {
  at::Generator scratch = at::make_generator<at::CPUGeneratorImpl>();
  try {
#if TORCH_VERSION_MAJOR >= 2
    scratch.set_state(state);
#else
    scratch.set_state(*state.unsafeGetTensorImpl());
#endif
    return true;
  } catch (const c10::Error&) {
    return false;
  }
}

}  // namespace rt
