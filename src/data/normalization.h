// Per-channel normalisation of pixels, (pixel / 255 - mean) / std, and where its statistics
// come from: CIFAR-10's for CIFAR-10, ImageNet's for large images, or measured on a training
// split (mean and standard deviation over every pixel of a sample of its images).
#pragma once

#include <array>
#include <string>

namespace rt {

struct Normalization {
  std::array<float, 3> mean{0.4914f, 0.4822f, 0.4465f};  // CIFAR-10 channel means
  std::array<float, 3> std{0.2470f, 0.2435f, 0.2616f};   // CIFAR-10 channel standard deviations
};

// The statistics torchvision's ImageNet models are trained with.
inline Normalization imagenet_normalization() {
  return Normalization{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}

// The normalised value of each pixel value 0..255 in channel c: lut[v] = (v / 255 - mean) / std.
void channel_lut(const Normalization& norm, int c, float lut[256]);

// "r,g,b" -> three floats; throws UserError naming `flag` otherwise (std values must be > 0).
std::array<float, 3> parse_channel_triple(const std::string& flag, const std::string& text, bool positive);

}  // namespace rt
