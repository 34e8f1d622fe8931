// Peak signal-to-noise ratio between two RGBA8 images of the same extent, per channel and over a
// set of channels, as the BCn quality tables define it (shared/bench/bc_quality.md): the mean
// squared error over the chosen channels of every texel, PSNR = 10 log10(255^2 / MSE). Identical
// images give +infinity.
//
//   gpumem::Image decoded = gpumem::decode_bc(blocks, w, h,
//   gpumem::TextureFormat::BC1_RGB_UNORM_BLOCK); gpumem::PsnrResult q =
//   gpumem::psnr(original.view(), decoded.view(), gpumem::kChannelsRgb); fmt::print("{:.2f} dB (R
//   {:.2f})\n", q.overall, q.channel[0]);
//
// Pure functions; safe from any thread.
#pragma once

#include <array>
#include <cstdint>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/image.hpp"

namespace gpumem {

// Channel masks: bit 0 red, 1 green, 2 blue, 3 alpha.
inline constexpr std::uint8_t kChannelsR = 0x1;
inline constexpr std::uint8_t kChannelsRg = 0x3;
inline constexpr std::uint8_t kChannelsRgb = 0x7;
inline constexpr std::uint8_t kChannelsRgba = 0xF;

struct PsnrResult {
  std::array<double, 4> channel{};  // dB per channel (all four, whatever the mask)
  std::array<double, 4> mse{};      // mean squared error per channel
  double overall = 0;               // dB over the channels of the mask
  double overall_mse = 0;
};

// InvalidArgument when the extents differ, a view is invalid or the mask is empty.
PsnrResult psnr(const ImageView& reference, const ImageView& test,
                std::uint8_t channels = kChannelsRgb);

// The channels a BCn format stores, as bc_quality.md counts them: RGB for BC1 (RGB and RGBA
// alike), RGBA for BC2, BC3 and BC7, R for BC4, RG for BC5 and RGB for BC6H. InvalidArgument for
// a format that is not BCn.
std::uint8_t stored_channels(TextureFormat format);

// 10 log10(255^2 / mse); +infinity for mse == 0.
double psnr_from_mse(double mse);

}  // namespace gpumem
