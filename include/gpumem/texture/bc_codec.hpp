// Block compression of whole images: encode RGBA8 into BC1, BC3, BC4, BC5 or BC7 blocks and
// decode every BCn format (BC1 to BC7, BC6H signed and unsigned) back. Images of any extent are
// accepted: edge blocks are padded by repeating the last row and column, and decoding writes only
// the texels inside the image. Blocks are laid out row by row, as KTX2 and Vulkan expect.
//
//   gpumem::Image img = gpumem::load_png("kodim01.png");
//   auto blocks = gpumem::encode_bc(img.view(), gpumem::TextureFormat::BC7_UNORM_BLOCK,
//                                   {.quality = gpumem::EncodeQuality::Best, .threads = 0});
//   gpumem::Image back = gpumem::decode_bc(blocks, img.width(), img.height(),
//                                          gpumem::TextureFormat::BC7_UNORM_BLOCK);
//
// Quality levels trade speed for PSNR (docs/PERFORMANCE.md has the figures): Fast fits a line
// through each block and refines it once; Normal and Best refine further and search more modes
// and partitions. Output depends only on the input, format and quality, never on the thread
// count. sRGB formats are encoded and decoded exactly as their UNORM twins (the bytes are the
// same; sRGB only changes how a sampler reads them).
//
// Errors: InvalidArgument for an invalid view, a block buffer whose size does not match the
// extent, or a thread count over 1024; Unsupported for a format this codec cannot encode or
// decode (named in the message). Functions are safe from several threads.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "gpumem/core/texture_format.hpp"
#include "gpumem/texture/image.hpp"

namespace gpumem {

enum class EncodeQuality : std::uint8_t { Fast, Normal, Best };

std::string_view to_string(EncodeQuality quality) noexcept;

struct EncodeOptions {
  EncodeQuality quality = EncodeQuality::Normal;
  unsigned threads = 1;  // 0: one per hardware thread
};

// True for the BCn formats (BC1 to BC7, every variant).
bool is_bc_format(TextureFormat format) noexcept;
// True for the formats encode_bc() writes: BC1 (RGB and RGBA), BC3, BC4 and BC5 unsigned, BC7.
bool can_encode_bc(TextureFormat format) noexcept;

// Bytes of the blocks covering width x height texels.
std::uint64_t bc_image_bytes(TextureFormat format, std::uint32_t width, std::uint32_t height);

std::vector<std::uint8_t> encode_bc(const ImageView& rgba, TextureFormat format,
                                    const EncodeOptions& options = {});

// To RGBA8; BC6H is clamped to [0, 1] and scaled to 0..255 (use decode_bc_float for HDR).
Image decode_bc(std::span<const std::uint8_t> blocks, std::uint32_t width, std::uint32_t height,
                TextureFormat format, unsigned threads = 1);

// To float RGBA: BC6H as decoded; the other formats as their 8-bit values / 255 (signed BC4/BC5
// as value / 127).
FloatImage decode_bc_float(std::span<const std::uint8_t> blocks, std::uint32_t width,
                           std::uint32_t height, TextureFormat format, unsigned threads = 1);

}  // namespace gpumem
