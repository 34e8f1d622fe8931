// Whole images to and from BCn blocks: block gathering with edge padding, dispatch to the block
// encoders and decoders, and the split over threads (encoding by runs of blocks, decoding by rows
// of blocks; each block is written by exactly one thread, so the result cannot depend on the
// thread count).
#include "gpumem/texture/bc_codec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "bc_encoders.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/texture/bc_block.hpp"

namespace gpumem {
namespace {

constexpr unsigned kMaxThreads = 1024;

unsigned resolve_threads(unsigned threads, const char* what) {
  if (threads > kMaxThreads) {
    throw InvalidArgument(
        fmt::format("{}: {} threads asked for, at most {} allowed", what, threads, kMaxThreads));
  }
  return threads == 0 ? std::max(1U, std::thread::hardware_concurrency()) : threads;
}

std::uint32_t blocks_across(std::uint32_t texels) { return (texels + 3) / 4; }

// The block at (bx, by), edge texels repeated where the image ends inside it.
void gather(const ImageView& image, std::uint32_t bx, std::uint32_t by, std::uint8_t* rgba) {
  if (bx * 4 + 4 <= image.width && by * 4 + 4 <= image.height) {  // inside: four row copies
    for (std::uint32_t y = 0; y < 4; ++y)
      std::memcpy(rgba + std::size_t{y} * 16, image.pixel(bx * 4, by * 4 + y), 16);
    return;
  }
  for (std::uint32_t y = 0; y < 4; ++y) {
    const std::uint32_t sy = std::min(by * 4 + y, image.height - 1);
    for (std::uint32_t x = 0; x < 4; ++x) {
      const std::uint32_t sx = std::min(bx * 4 + x, image.width - 1);
      std::memcpy(rgba + std::size_t{y * 4 + x} * 4, image.pixel(sx, sy), 4);
    }
  }
}

void encode_block(TextureFormat format, const std::uint8_t* rgba, std::uint8_t* out,
                  EncodeQuality quality) {
  using namespace detail;
  switch (format) {
    case TextureFormat::BC1_RGB_UNORM_BLOCK:
    case TextureFormat::BC1_RGB_SRGB_BLOCK:
      encode_bc1_block(rgba, out, quality, false, false);
      break;
    case TextureFormat::BC1_RGBA_UNORM_BLOCK:
    case TextureFormat::BC1_RGBA_SRGB_BLOCK:
      encode_bc1_block(rgba, out, quality, true, false);
      break;
    case TextureFormat::BC3_UNORM_BLOCK:
    case TextureFormat::BC3_SRGB_BLOCK:
      encode_bc4_channel(rgba, 3, out, quality);
      encode_bc1_block(rgba, out + 8, quality, false, true);
      break;
    case TextureFormat::BC4_UNORM_BLOCK:
      encode_bc4_channel(rgba, 0, out, quality);
      break;
    case TextureFormat::BC5_UNORM_BLOCK:
      encode_bc4_channel(rgba, 0, out, quality);
      encode_bc4_channel(rgba, 1, out + 8, quality);
      break;
    default:  // BC7; can_encode_bc() was checked by the caller
      encode_bc7_block(rgba, out, quality);
      break;
  }
}

std::span<const std::uint8_t> checked_blocks(std::span<const std::uint8_t> blocks,
                                             std::uint32_t width, std::uint32_t height,
                                             TextureFormat format, const char* what) {
  if (!is_bc_format(format)) {
    throw Unsupported(fmt::format("{}: {} is not a BCn format", what, to_string(format)));
  }
  if (width == 0 || height == 0) {
    throw InvalidArgument(fmt::format("{}: extent {}x{} is empty", what, width, height));
  }
  const std::uint64_t expected = bc_image_bytes(format, width, height);
  if (blocks.size() != expected) {
    throw InvalidArgument(fmt::format("{}: {} bytes of {} blocks given for {}x{} texels (needs {})",
                                      what, blocks.size(), to_string(format), width, height,
                                      expected));
  }
  return blocks;
}

void decode_block_rgba8(TextureFormat format, const std::uint8_t* block, std::uint8_t* rgba) {
  switch (format) {
    case TextureFormat::BC1_RGB_UNORM_BLOCK:
    case TextureFormat::BC1_RGB_SRGB_BLOCK:
      decode_bc1_block(block, rgba, false);
      break;
    case TextureFormat::BC1_RGBA_UNORM_BLOCK:
    case TextureFormat::BC1_RGBA_SRGB_BLOCK:
      decode_bc1_block(block, rgba, true);
      break;
    case TextureFormat::BC2_UNORM_BLOCK:
    case TextureFormat::BC2_SRGB_BLOCK:
      decode_bc2_block(block, rgba);
      break;
    case TextureFormat::BC3_UNORM_BLOCK:
    case TextureFormat::BC3_SRGB_BLOCK:
      decode_bc3_block(block, rgba);
      break;
    case TextureFormat::BC4_UNORM_BLOCK:
    case TextureFormat::BC4_SNORM_BLOCK:
      decode_bc4_block(block, rgba, format == TextureFormat::BC4_SNORM_BLOCK);
      break;
    case TextureFormat::BC5_UNORM_BLOCK:
    case TextureFormat::BC5_SNORM_BLOCK:
      decode_bc5_block(block, rgba, format == TextureFormat::BC5_SNORM_BLOCK);
      break;
    case TextureFormat::BC6H_UFLOAT_BLOCK:
    case TextureFormat::BC6H_SFLOAT_BLOCK: {
      float texels[kBlockTexels * 4];
      decode_bc6h_block(block, texels, format == TextureFormat::BC6H_SFLOAT_BLOCK);
      for (int i = 0; i < kBlockTexels * 4; ++i) {
        rgba[i] = static_cast<std::uint8_t>(
            detail::round_non_negative(std::clamp(texels[i], 0.0F, 1.0F) * 255.0F));
      }
      break;
    }
    default:
      decode_bc7_block(block, rgba);
      break;
  }
}

// Runs decode_one(block bytes, block x, block y) for every block, split over threads by rows.
template <typename Fn>
void for_each_block(std::span<const std::uint8_t> blocks, std::uint32_t width, std::uint32_t height,
                    TextureFormat format, unsigned threads, Fn&& fn) {
  const std::uint32_t across = blocks_across(width);
  const std::uint32_t rows = blocks_across(height);
  const std::size_t block_bytes = format_info(format).bytes_per_block;
  detail::parallel_for(rows, threads, [&](std::size_t begin, std::size_t end) {
    for (std::size_t by = begin; by < end; ++by) {
      for (std::uint32_t bx = 0; bx < across; ++bx) {
        fn(blocks.data() + (by * across + bx) * block_bytes, bx, static_cast<std::uint32_t>(by));
      }
    }
  });
}

}  // namespace

std::string_view to_string(EncodeQuality quality) noexcept {
  switch (quality) {
    case EncodeQuality::Fast:
      return "fast";
    case EncodeQuality::Normal:
      return "normal";
    case EncodeQuality::Best:
      return "best";
  }
  return "unknown";
}

bool is_bc_format(TextureFormat format) noexcept {
  return format >= TextureFormat::BC1_RGB_UNORM_BLOCK && format <= TextureFormat::BC7_SRGB_BLOCK;
}

bool can_encode_bc(TextureFormat format) noexcept {
  switch (format) {
    case TextureFormat::BC1_RGB_UNORM_BLOCK:
    case TextureFormat::BC1_RGB_SRGB_BLOCK:
    case TextureFormat::BC1_RGBA_UNORM_BLOCK:
    case TextureFormat::BC1_RGBA_SRGB_BLOCK:
    case TextureFormat::BC3_UNORM_BLOCK:
    case TextureFormat::BC3_SRGB_BLOCK:
    case TextureFormat::BC4_UNORM_BLOCK:
    case TextureFormat::BC5_UNORM_BLOCK:
    case TextureFormat::BC7_UNORM_BLOCK:
    case TextureFormat::BC7_SRGB_BLOCK:
      return true;
    default:
      return false;
  }
}

std::uint64_t bc_image_bytes(TextureFormat format, std::uint32_t width, std::uint32_t height) {
  if (!is_bc_format(format)) {
    throw Unsupported(fmt::format("bc_image_bytes: {} is not a BCn format", to_string(format)));
  }
  return std::uint64_t{blocks_across(width)} * blocks_across(height) *
         format_info(format).bytes_per_block;
}

std::vector<std::uint8_t> encode_bc(const ImageView& rgba, TextureFormat format,
                                    const EncodeOptions& options) {
  if (!can_encode_bc(format)) {
    throw Unsupported(
        fmt::format("encode_bc: cannot encode {} (encodable: BC1, BC3, BC4/BC5 UNORM, BC7)",
                    to_string(format)));
  }
  validate(rgba, "encode_bc");
  const unsigned threads = resolve_threads(options.threads, "encode_bc");
  const std::uint32_t across = blocks_across(rgba.width);
  const std::uint32_t rows = blocks_across(rgba.height);
  const std::size_t block_bytes = format_info(format).bytes_per_block;
  std::vector<std::uint8_t> out(std::size_t{across} * rows * block_bytes);
  // Split by blocks, not rows: an image a few rows high still spreads over every thread, and
  // chunks of blocks balance better than whole rows.
  detail::parallel_for(out.size() / block_bytes, threads, [&](std::size_t begin, std::size_t end) {
    std::uint8_t texels[kBlockTexels * 4];
    auto bx = static_cast<std::uint32_t>(begin % across);
    auto by = static_cast<std::uint32_t>(begin / across);
    for (std::size_t b = begin; b < end; ++b) {
      gather(rgba, bx, by, texels);
      encode_block(format, texels, out.data() + b * block_bytes, options.quality);
      if (++bx == across) bx = 0, ++by;
    }
  });
  return out;
}

Image decode_bc(std::span<const std::uint8_t> blocks, std::uint32_t width, std::uint32_t height,
                TextureFormat format, unsigned threads) {
  checked_blocks(blocks, width, height, format, "decode_bc");
  threads = resolve_threads(threads, "decode_bc");
  Image image(width, height);
  for_each_block(blocks, width, height, format, threads,
                 [&](const std::uint8_t* block, std::uint32_t bx, std::uint32_t by) {
                   std::uint8_t rgba[kBlockTexels * 4];
                   decode_block_rgba8(format, block, rgba);
                   for (std::uint32_t y = 0; y < 4 && by * 4 + y < height; ++y) {
                     const std::uint32_t n = std::min(4U, width - bx * 4);
                     std::memcpy(image.pixel(bx * 4, by * 4 + y), rgba + std::size_t{y} * 16,
                                 std::size_t{n} * 4);
                   }
                 });
  return image;
}

FloatImage decode_bc_float(std::span<const std::uint8_t> blocks, std::uint32_t width,
                           std::uint32_t height, TextureFormat format, unsigned threads) {
  checked_blocks(blocks, width, height, format, "decode_bc_float");
  threads = resolve_threads(threads, "decode_bc_float");
  FloatImage image{width, height, {}};
  image.rgba.resize(std::size_t{width} * height * 4);
  const bool bc6h =
      format == TextureFormat::BC6H_UFLOAT_BLOCK || format == TextureFormat::BC6H_SFLOAT_BLOCK;
  const bool snorm =
      format == TextureFormat::BC4_SNORM_BLOCK || format == TextureFormat::BC5_SNORM_BLOCK;
  const int snorm_channels = format == TextureFormat::BC5_SNORM_BLOCK ? 2 : 1;
  for_each_block(
      blocks, width, height, format, threads,
      [&](const std::uint8_t* block, std::uint32_t bx, std::uint32_t by) {
        float texels[kBlockTexels * 4];
        if (bc6h) {
          decode_bc6h_block(block, texels, format == TextureFormat::BC6H_SFLOAT_BLOCK);
        } else {
          std::uint8_t rgba[kBlockTexels * 4];
          decode_block_rgba8(format, block, rgba);
          for (int i = 0; i < kBlockTexels * 4; ++i) {
            const bool is_snorm = snorm && (i % 4) < snorm_channels;
            texels[i] = is_snorm ? static_cast<float>(static_cast<std::int8_t>(rgba[i])) / 127.0F
                                 : static_cast<float>(rgba[i]) / 255.0F;
          }
        }
        for (std::uint32_t y = 0; y < 4 && by * 4 + y < height; ++y) {
          const std::uint32_t n = std::min(4U, width - bx * 4);
          std::memcpy(&image.rgba[(std::size_t{by * 4 + y} * width + std::size_t{bx} * 4) * 4],
                      texels + std::size_t{y} * 16, std::size_t{n} * 4 * sizeof(float));
        }
      });
  return image;
}

}  // namespace gpumem
