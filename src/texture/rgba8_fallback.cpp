#include "gpumem/texture/rgba8_fallback.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "gpumem/core/error.hpp"
#include "gpumem/texture/bc_codec.hpp"

namespace gpumem {
namespace {

bool is_bgra8(TextureFormat format) {
  return format == TextureFormat::B8G8R8A8_UNORM || format == TextureFormat::B8G8R8A8_SRGB;
}

bool is_rgba8(TextureFormat format) {
  return format == TextureFormat::R8G8B8A8_UNORM || format == TextureFormat::R8G8B8A8_SRGB;
}

std::uint64_t image_bytes(TextureFormat format, std::uint32_t width, std::uint32_t height) {
  return is_bc_format(format) ? bc_image_bytes(format, width, height)
                              : std::uint64_t{width} * height * 4;
}

}  // namespace

bool can_decode_to_rgba8(TextureFormat format) noexcept {
  switch (format) {
    case TextureFormat::BC4_SNORM_BLOCK:
    case TextureFormat::BC5_SNORM_BLOCK:
    case TextureFormat::BC6H_UFLOAT_BLOCK:
    case TextureFormat::BC6H_SFLOAT_BLOCK:
      return false;
    default:
      return is_bc_format(format) || is_rgba8(format) || is_bgra8(format);
  }
}

TextureFormat rgba8_format_for(TextureFormat format) noexcept {
  const bool srgb = static_cast<std::size_t>(format) < kTextureFormatCount &&
                    texture_formats()[static_cast<std::size_t>(format)].srgb;
  return srgb ? TextureFormat::R8G8B8A8_SRGB : TextureFormat::R8G8B8A8_UNORM;
}

std::vector<std::byte> decode_level_to_rgba8(std::span<const std::byte> level, TextureFormat format,
                                             std::uint32_t width, std::uint32_t height,
                                             std::uint32_t images, unsigned threads) {
  if (!can_decode_to_rgba8(format)) {
    throw Unsupported(fmt::format("gpumem cannot decode {} to RGBA8", to_string(format)));
  }
  const std::uint64_t in_bytes = image_bytes(format, width, height);
  if (width == 0 || height == 0 || images == 0 || level.size() != in_bytes * images) {
    throw InvalidArgument(fmt::format(
        "decode_level_to_rgba8: {} bytes of {} do not hold {} image(s) of {}x{} ({} bytes each)",
        level.size(), to_string(format), images, width, height, in_bytes));
  }
  const std::size_t out_bytes = std::size_t{width} * height * 4;
  std::vector<std::byte> out(out_bytes * images);
  for (std::uint32_t i = 0; i < images; ++i) {
    const std::byte* src = level.data() + in_bytes * i;
    std::byte* dst = out.data() + out_bytes * i;
    if (is_bc_format(format)) {
      const Image decoded = decode_bc(
          {reinterpret_cast<const std::uint8_t*>(src), static_cast<std::size_t>(in_bytes)}, width,
          height, format, threads);
      std::memcpy(dst, decoded.bytes().data(), out_bytes);
    } else {
      std::memcpy(dst, src, out_bytes);
      if (is_bgra8(format)) {
        for (std::size_t t = 0; t < out_bytes; t += 4) std::swap(dst[t], dst[t + 2]);
      }
    }
  }
  return out;
}

}  // namespace gpumem
