// What KTX2 validation needs to know about a VkFormat value, including the valid formats that
// gpumem's TextureFormat leaves out (ASTC HDR and 3D, PVRTC, 64-bit, 4:2:2) and the ones KTX2
// prohibits (USCALED, SSCALED, A8B8G8R8_*_PACK32, multi-planar).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gpumem/core/texture_format.hpp"

namespace gpumem::ktx2::detail {

enum class VkFormatClass : std::uint8_t {
  Undefined,   // VK_FORMAT_UNDEFINED: BasisLZ, UASTC or a format only the DFD describes
  Known,       // valid in KTX2 and described below
  Prohibited,  // a VkFormat KTX2 forbids
  Unknown,     // an extension value this reader does not know: the validator warns
  Invalid,     // not a VkFormat at all
};

struct VkFormatTraits {
  VkFormatClass kind = VkFormatClass::Invalid;
  std::string name;  // Vulkan's name without VK_FORMAT_, or the number
  std::uint32_t type_size = 1;
  std::uint32_t block_width = 1;
  std::uint32_t block_height = 1;
  std::uint32_t block_depth = 1;
  std::uint32_t bytes_per_block = 0;
  bool compressed = false;
  bool srgb = false;
  bool depth_or_stencil = false;
  bool hdr_astc = false;  // ASTC *_SFLOAT_BLOCK
  bool astc = false;
  std::uint8_t color_model = 1;  // what the DFD's basic block must say
  std::optional<TextureFormat> format;
};

VkFormatTraits vk_format_traits(std::uint32_t vk_format);

}  // namespace gpumem::ktx2::detail
