// Decoding stored texels to RGBA8 for devices that cannot sample a format (no BC support, as on
// many mobile GPUs): load_texture() uses it when LoadOptions::samplable says no, and
// `gpumem ktx decompress` to write PNGs. The fallback keeps sRGB-ness (BC7_SRGB_BLOCK becomes
// R8G8B8A8_SRGB) and is exact: the texels are what a sampler of the stored format would read.
// Formats whose values do not fit unsigned 8 bits (BC4/BC5 SNORM, BC6H) and formats gpumem
// cannot decode (ETC2, EAC, ASTC, the rest of the uncompressed ones) have no fallback here.
//
//   if (gpumem::can_decode_to_rgba8(format)) {
//     auto texels = gpumem::decode_level_to_rgba8(level, format, w, h, layers * faces);
//   }
//
// Pure functions: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gpumem/core/texture_format.hpp"

namespace gpumem {

// BC1, BC2, BC3, BC4/BC5 UNORM, BC7, and R8G8B8A8/B8G8R8A8 UNORM and SRGB.
bool can_decode_to_rgba8(TextureFormat format) noexcept;

// R8G8B8A8_SRGB for sRGB formats, R8G8B8A8_UNORM for the others.
TextureFormat rgba8_format_for(TextureFormat format) noexcept;

// `images` images of width x height (a level's layers, faces and depth slices, tightly packed as
// KTX2 stores them) to RGBA8 texels in the same order. Throws Unsupported for a format without a
// fallback and InvalidArgument when the level's size does not match the extent and count.
std::vector<std::byte> decode_level_to_rgba8(std::span<const std::byte> level, TextureFormat format,
                                             std::uint32_t width, std::uint32_t height,
                                             std::uint32_t images, unsigned threads = 1);

}  // namespace gpumem
