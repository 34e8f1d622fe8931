#include "gpumem/texture/compress.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

bool is_rgba8(TextureFormat format) {
  return format == TextureFormat::R8G8B8A8_UNORM || format == TextureFormat::R8G8B8A8_SRGB;
}

// Every level at one quality: encoded, decoded again and measured.
std::vector<CompressedLevel> encode_levels(const std::vector<Image>& chain, TextureFormat format,
                                           EncodeQuality quality, unsigned threads) {
  std::vector<CompressedLevel> levels;
  levels.reserve(chain.size());
  for (const Image& image : chain) {
    CompressedLevel level{.width = image.width(), .height = image.height()};
    if (is_rgba8(format)) {
      level.data.assign(image.bytes().begin(), image.bytes().end());
      level.psnr = psnr(image.view(), image.view(), kChannelsRgba);
    } else {
      level.data = encode_bc(image.view(), format, {.quality = quality, .threads = threads});
      const Image back = decode_bc(level.data, image.width(), image.height(), format, threads);
      level.psnr = psnr(image.view(), back.view(), stored_channels(format));
    }
    levels.push_back(std::move(level));
  }
  return levels;
}

double min_psnr_of(const std::vector<CompressedLevel>& levels) {
  double lowest = std::numeric_limits<double>::infinity();
  for (const CompressedLevel& l : levels) lowest = std::min(lowest, l.psnr.overall);
  return lowest;
}

}  // namespace

TextureDesc CompressedTexture::desc() const {
  if (levels.empty()) throw InvalidArgument("CompressedTexture::desc: the texture has no levels");
  return {.format = format,
          .width = levels[0].width,
          .height = levels[0].height,
          .mip_levels = static_cast<std::uint32_t>(levels.size())};
}

double CompressedTexture::min_psnr() const { return min_psnr_of(levels); }

bool can_compress(TextureFormat format) noexcept {
  return is_rgba8(format) || can_encode_bc(format);
}

CompressedTexture compress(const ImageView& image, TextureFormat format,
                           const CompressOptions& options) {
  validate(image, "compress");
  if (!can_compress(format)) {
    throw InvalidArgument(fmt::format(
        "compress: cannot write {} (BC1, BC3, BC4, BC5 and BC7 unsigned, and R8G8B8A8 are "
        "supported)",
        to_string(format)));
  }
  if (options.target_psnr && !(*options.target_psnr > 0 && std::isfinite(*options.target_psnr))) {
    throw InvalidArgument(
        fmt::format("compress: target PSNR {} dB is not a positive number", *options.target_psnr));
  }
  const ColorSpace space = format_info(format).srgb ? ColorSpace::Srgb : ColorSpace::Linear;
  const std::vector<Image> chain =
      generate_mip_chain(image, options.mips.value_or(MipFilter::Box), space, options.mips ? 0 : 1);

  CompressedTexture result{.format = format, .target_psnr = options.target_psnr};
  if (!options.target_psnr) {
    result.quality = options.quality;
    result.levels = encode_levels(chain, format, options.quality, options.threads);
  } else {
    // Cheapest first; RGBA8 is lossless, so its first try always meets the target.
    for (const EncodeQuality q :
         {EncodeQuality::Fast, EncodeQuality::Normal, EncodeQuality::Best}) {
      result.quality = q;
      result.levels = encode_levels(chain, format, q, options.threads);
      result.target_met = min_psnr_of(result.levels) >= *options.target_psnr;
      if (result.target_met) break;
    }
  }
  const TextureDesc desc = result.desc();
  result.memory_bytes = texture_size_bytes(desc);
  result.rgba8_bytes = rgba8_equivalent_bytes(desc);
  result.saved_bytes = result.rgba8_bytes - result.memory_bytes;
  result.compression_ratio =
      static_cast<double>(result.rgba8_bytes) / static_cast<double>(result.memory_bytes);
  return result;
}

ktx2::Ktx2Image to_ktx2_image(const CompressedTexture& texture) {
  const TextureDesc desc = texture.desc();
  ktx2::Ktx2Image image{.format = desc.format, .width = desc.width, .height = desc.height};
  image.levels.reserve(texture.levels.size());
  for (const CompressedLevel& level : texture.levels) {
    const auto* bytes = reinterpret_cast<const std::byte*>(level.data.data());
    image.levels.emplace_back(bytes, bytes + level.data.size());
  }
  return image;
}

}  // namespace gpumem
