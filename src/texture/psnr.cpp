#include "gpumem/texture/psnr.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "gpumem/core/error.hpp"

namespace gpumem {

double psnr_from_mse(double mse) {
  if (mse <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

PsnrResult psnr(const ImageView& reference, const ImageView& test, std::uint8_t channels) {
  validate(reference, "psnr (reference)");
  validate(test, "psnr (test)");
  if (reference.width != test.width || reference.height != test.height) {
    throw InvalidArgument(fmt::format("psnr: reference is {}x{} but test is {}x{}", reference.width,
                                      reference.height, test.width, test.height));
  }
  if ((channels & kChannelsRgba) == 0) {
    throw InvalidArgument("psnr: the channel mask selects no channel");
  }
  // Integer sums are exact and, per row, cannot overflow 64 bits for any image we accept.
  std::uint64_t sums[4] = {};
  for (std::uint32_t y = 0; y < reference.height; ++y) {
    const std::uint8_t* a = reference.row(y);
    const std::uint8_t* b = test.row(y);
    for (std::uint32_t i = 0; i < reference.width * 4; ++i) {
      const int d = int{a[i]} - int{b[i]};
      sums[i & 3U] += static_cast<std::uint64_t>(d * d);
    }
  }
  const double texels = double(reference.width) * reference.height;
  PsnrResult result;
  double total = 0;
  int counted = 0;
  for (std::size_t ch = 0; ch < 4; ++ch) {
    result.mse[ch] = double(sums[ch]) / texels;
    result.channel[ch] = psnr_from_mse(result.mse[ch]);
    if (channels & (1U << ch)) {
      total += result.mse[ch];
      ++counted;
    }
  }
  result.overall_mse = total / counted;
  result.overall = psnr_from_mse(result.overall_mse);
  return result;
}

std::uint8_t stored_channels(TextureFormat format) {
  switch (format) {
    case TextureFormat::BC1_RGB_UNORM_BLOCK:
    case TextureFormat::BC1_RGB_SRGB_BLOCK:
    case TextureFormat::BC1_RGBA_UNORM_BLOCK:
    case TextureFormat::BC1_RGBA_SRGB_BLOCK:
    case TextureFormat::BC6H_UFLOAT_BLOCK:
    case TextureFormat::BC6H_SFLOAT_BLOCK:
      return kChannelsRgb;
    case TextureFormat::BC2_UNORM_BLOCK:
    case TextureFormat::BC2_SRGB_BLOCK:
    case TextureFormat::BC3_UNORM_BLOCK:
    case TextureFormat::BC3_SRGB_BLOCK:
    case TextureFormat::BC7_UNORM_BLOCK:
    case TextureFormat::BC7_SRGB_BLOCK:
      return kChannelsRgba;
    case TextureFormat::BC4_UNORM_BLOCK:
    case TextureFormat::BC4_SNORM_BLOCK:
      return kChannelsR;
    case TextureFormat::BC5_UNORM_BLOCK:
    case TextureFormat::BC5_SNORM_BLOCK:
      return kChannelsRg;
    default:
      throw InvalidArgument(
          fmt::format("stored_channels: {} is not a BCn format", to_string(format)));
  }
}

}  // namespace gpumem
