// Texture size accounting: the exact number of bytes a texture's texels take, from its format,
// extent, mip chain, array layers and cube faces. Formats carry Vulkan's names and VkFormat
// numbers so a KTX2 header maps onto them directly; block-compressed formats (BCn, ETC2/EAC,
// ASTC) round every mip level up to whole blocks. The numbers are what the texels need, not what
// a driver allocates (tiling, alignment and metadata come on top: ask the backend for those).
//
//   gpumem::TextureDesc desc{.format = gpumem::TextureFormat::BC7_SRGB_BLOCK,
//                            .width = 2048, .height = 2048};
//   desc.mip_levels = gpumem::full_mip_count(desc.width, desc.height);
//   std::uint64_t bytes = gpumem::texture_size_bytes(desc);        // 5592432
//   std::uint64_t raw = gpumem::rgba8_equivalent_bytes(desc);      // 22369620, about 4:1
//
// Every function here is pure and reads only constant tables, so all are safe from any thread.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gpumem {

// Named after VkFormat without the VK_FORMAT_ prefix (so KTX2 and Vulkan readers find their own
// spelling) rather than kName, and numbered densely in Vulkan's order: the numbers are not
// VkFormat values, vk_format() gives those. Vertex-only (USCALED/SSCALED), 64-bit, planar and
// extension formats are left out until something needs them.
enum class TextureFormat : std::uint16_t {
  // Packed 8- and 16-bit.
  R4G4_UNORM_PACK8,
  R4G4B4A4_UNORM_PACK16,
  B4G4R4A4_UNORM_PACK16,
  R5G6B5_UNORM_PACK16,
  B5G6R5_UNORM_PACK16,
  R5G5B5A1_UNORM_PACK16,
  B5G5R5A1_UNORM_PACK16,
  A1R5G5B5_UNORM_PACK16,
  // 8-bit channels.
  R8_UNORM,
  R8_SNORM,
  R8_UINT,
  R8_SINT,
  R8_SRGB,
  R8G8_UNORM,
  R8G8_SNORM,
  R8G8_UINT,
  R8G8_SINT,
  R8G8_SRGB,
  R8G8B8_UNORM,
  R8G8B8_SNORM,
  R8G8B8_UINT,
  R8G8B8_SINT,
  R8G8B8_SRGB,
  B8G8R8_UNORM,
  B8G8R8_SNORM,
  B8G8R8_UINT,
  B8G8R8_SINT,
  B8G8R8_SRGB,
  R8G8B8A8_UNORM,
  R8G8B8A8_SNORM,
  R8G8B8A8_UINT,
  R8G8B8A8_SINT,
  R8G8B8A8_SRGB,
  B8G8R8A8_UNORM,
  B8G8R8A8_SNORM,
  B8G8R8A8_UINT,
  B8G8R8A8_SINT,
  B8G8R8A8_SRGB,
  A8B8G8R8_UNORM_PACK32,
  A8B8G8R8_SNORM_PACK32,
  A8B8G8R8_UINT_PACK32,
  A8B8G8R8_SINT_PACK32,
  A8B8G8R8_SRGB_PACK32,
  // Packed 32-bit with 10-bit colour.
  A2R10G10B10_UNORM_PACK32,
  A2R10G10B10_SNORM_PACK32,
  A2R10G10B10_UINT_PACK32,
  A2R10G10B10_SINT_PACK32,
  A2B10G10R10_UNORM_PACK32,
  A2B10G10R10_SNORM_PACK32,
  A2B10G10R10_UINT_PACK32,
  A2B10G10R10_SINT_PACK32,
  // 16-bit channels.
  R16_UNORM,
  R16_SNORM,
  R16_UINT,
  R16_SINT,
  R16_SFLOAT,
  R16G16_UNORM,
  R16G16_SNORM,
  R16G16_UINT,
  R16G16_SINT,
  R16G16_SFLOAT,
  R16G16B16_UNORM,
  R16G16B16_SNORM,
  R16G16B16_UINT,
  R16G16B16_SINT,
  R16G16B16_SFLOAT,
  R16G16B16A16_UNORM,
  R16G16B16A16_SNORM,
  R16G16B16A16_UINT,
  R16G16B16A16_SINT,
  R16G16B16A16_SFLOAT,
  // 32-bit channels.
  R32_UINT,
  R32_SINT,
  R32_SFLOAT,
  R32G32_UINT,
  R32G32_SINT,
  R32G32_SFLOAT,
  R32G32B32_UINT,
  R32G32B32_SINT,
  R32G32B32_SFLOAT,
  R32G32B32A32_UINT,
  R32G32B32A32_SINT,
  R32G32B32A32_SFLOAT,
  // Packed 32-bit float.
  B10G11R11_UFLOAT_PACK32,
  E5B9G9R9_UFLOAT_PACK32,
  // Depth and stencil.
  D16_UNORM,
  X8_D24_UNORM_PACK32,
  D32_SFLOAT,
  S8_UINT,
  D16_UNORM_S8_UINT,
  D24_UNORM_S8_UINT,
  D32_SFLOAT_S8_UINT,
  // BCn (S3TC/RGTC/BPTC), 4x4 blocks.
  BC1_RGB_UNORM_BLOCK,
  BC1_RGB_SRGB_BLOCK,
  BC1_RGBA_UNORM_BLOCK,
  BC1_RGBA_SRGB_BLOCK,
  BC2_UNORM_BLOCK,
  BC2_SRGB_BLOCK,
  BC3_UNORM_BLOCK,
  BC3_SRGB_BLOCK,
  BC4_UNORM_BLOCK,
  BC4_SNORM_BLOCK,
  BC5_UNORM_BLOCK,
  BC5_SNORM_BLOCK,
  BC6H_UFLOAT_BLOCK,
  BC6H_SFLOAT_BLOCK,
  BC7_UNORM_BLOCK,
  BC7_SRGB_BLOCK,
  // ETC2 and EAC, 4x4 blocks.
  ETC2_R8G8B8_UNORM_BLOCK,
  ETC2_R8G8B8_SRGB_BLOCK,
  ETC2_R8G8B8A1_UNORM_BLOCK,
  ETC2_R8G8B8A1_SRGB_BLOCK,
  ETC2_R8G8B8A8_UNORM_BLOCK,
  ETC2_R8G8B8A8_SRGB_BLOCK,
  EAC_R11_UNORM_BLOCK,
  EAC_R11_SNORM_BLOCK,
  EAC_R11G11_UNORM_BLOCK,
  EAC_R11G11_SNORM_BLOCK,
  // ASTC LDR 2D, 16 bytes per block of any footprint.
  ASTC_4x4_UNORM_BLOCK,
  ASTC_4x4_SRGB_BLOCK,
  ASTC_5x4_UNORM_BLOCK,
  ASTC_5x4_SRGB_BLOCK,
  ASTC_5x5_UNORM_BLOCK,
  ASTC_5x5_SRGB_BLOCK,
  ASTC_6x5_UNORM_BLOCK,
  ASTC_6x5_SRGB_BLOCK,
  ASTC_6x6_UNORM_BLOCK,
  ASTC_6x6_SRGB_BLOCK,
  ASTC_8x5_UNORM_BLOCK,
  ASTC_8x5_SRGB_BLOCK,
  ASTC_8x6_UNORM_BLOCK,
  ASTC_8x6_SRGB_BLOCK,
  ASTC_8x8_UNORM_BLOCK,
  ASTC_8x8_SRGB_BLOCK,
  ASTC_10x5_UNORM_BLOCK,
  ASTC_10x5_SRGB_BLOCK,
  ASTC_10x6_UNORM_BLOCK,
  ASTC_10x6_SRGB_BLOCK,
  ASTC_10x8_UNORM_BLOCK,
  ASTC_10x8_SRGB_BLOCK,
  ASTC_10x10_UNORM_BLOCK,
  ASTC_10x10_SRGB_BLOCK,
  ASTC_12x10_UNORM_BLOCK,
  ASTC_12x10_SRGB_BLOCK,
  ASTC_12x12_UNORM_BLOCK,
  ASTC_12x12_SRGB_BLOCK,  // keep last: kTextureFormatCount counts up to it
};

inline constexpr std::size_t kTextureFormatCount =
    static_cast<std::size_t>(TextureFormat::ASTC_12x12_SRGB_BLOCK) + 1;

enum class FormatFamily : std::uint8_t { Uncompressed, DepthStencil, BC, ETC2, EAC, ASTC };

// What size accounting needs to know about a format. Uncompressed formats are 1x1x1 blocks, so
// bytes_per_block is bytes per texel for them.
struct FormatInfo {
  TextureFormat format;
  std::string_view name;    // Vulkan's name without "VK_FORMAT_", e.g. "BC7_SRGB_BLOCK"
  std::uint32_t vk_format;  // the VkFormat value, e.g. 146
  FormatFamily family;
  std::uint8_t block_width;
  std::uint8_t block_height;
  std::uint8_t block_depth;
  std::uint8_t bytes_per_block;
  bool compressed;  // BC, ETC2, EAC or ASTC
  bool srgb;
  bool depth;
  bool stencil;
};

// Throws InvalidArgument for a value outside the enum (e.g. a cast from a corrupt file).
const FormatInfo& format_info(TextureFormat format);

// Every format, in enum order; info.format equals the index.
std::span<const FormatInfo> texture_formats() noexcept;

// The format's name, or "unknown" for a value outside the enum; never throws.
std::string_view to_string(TextureFormat format) noexcept;

// For the CLI: the name as to_string() spells it, in any case, with or without "VK_FORMAT_".
std::optional<TextureFormat> parse_texture_format(std::string_view name);

// VkFormat numbers, without needing Vulkan headers. format_from_vk_format() is empty for
// VK_FORMAT_UNDEFINED and for every format this enum leaves out.
std::uint32_t vk_format(TextureFormat format);
std::optional<TextureFormat> format_from_vk_format(std::uint32_t value) noexcept;

// A texture as its creator describes it. Cube maps count array_layers in whole cubes (as KTX2's
// layerCount does, unlike VkImageCreateInfo::arrayLayers, which counts faces): a cube array of
// two cubes has cube = true, array_layers = 2 and 12 faces.
struct TextureDesc {
  TextureFormat format = TextureFormat::R8G8B8A8_UNORM;
  std::uint32_t width = 1;
  std::uint32_t height = 1;
  std::uint32_t depth = 1;  // > 1 makes a 3D texture
  std::uint32_t mip_levels = 1;
  std::uint32_t array_layers = 1;
  bool cube = false;
};

// Levels in a chain that halves down to 1x1x1: 1 + floor(log2(max(w, h, d))), 0 when all are 0.
constexpr std::uint32_t full_mip_count(std::uint32_t width, std::uint32_t height = 1,
                                       std::uint32_t depth = 1) noexcept {
  return static_cast<std::uint32_t>(std::bit_width(std::max({width, height, depth})));
}

// One axis of a mip level: max(1, base >> level), also for levels past the end of the chain.
constexpr std::uint32_t mip_dimension(std::uint32_t base, std::uint32_t level) noexcept {
  return level >= 32 ? 1U : std::max(1U, base >> level);
}

// Throws InvalidArgument naming the first field that is wrong, checked in this order: format;
// width, height, depth, array_layers, mip_levels (each at least 1); mip_levels at most
// full_mip_count(); a cube square with depth 1; a 3D texture (depth > 1) with one array layer, as
// Vulkan and D3D require; the total size within 64 bits. Block-compressed formats accept any
// extent (partial blocks are padded) and depth > 1: formats with block_depth 1 compress each
// depth slice on its own, as 3D BCn textures do.
void validate(const TextureDesc& desc);

// Bytes of one mip level of one array layer (one face of a cube). Validates desc; throws
// InvalidArgument when level >= desc.mip_levels.
std::uint64_t mip_level_size_bytes(const TextureDesc& desc, std::uint32_t level);

// Bytes of the whole texture: every level of every layer, times six faces for a cube.
std::uint64_t texture_size_bytes(const TextureDesc& desc);

// What the same texture would take as R8G8B8A8 (4 bytes a texel): the baseline for compression
// ratios. Validates desc with its own format.
std::uint64_t rgba8_equivalent_bytes(const TextureDesc& desc);

}  // namespace gpumem
