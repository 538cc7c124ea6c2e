// Seeds for every random stream, derived from (run seed, purpose, a, b) so that each stream
// is explicit, independent and reproducible from the run's configuration alone: no random
// state has to be carried between epochs, ranks or a resumed run.
#pragma once

#include <cstdint>

namespace rt {

enum class SeedPurpose : uint64_t { kInit = 1, kShuffle = 2, kAugment = 3, kSubset = 4, kPowerSgd = 5, kFlip = 6 };

// Mixes the inputs with the SplitMix64 finaliser (Steele et al. 2014), the standard way to
// turn structured integers into well-spread 64-bit seeds.
inline uint64_t derive_seed(uint64_t seed, SeedPurpose purpose, uint64_t a = 0, uint64_t b = 0) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(seed);
  h = mix(h ^ static_cast<uint64_t>(purpose));
  h = mix(h ^ a);
  return mix(h ^ b);
}

}  // namespace rt
