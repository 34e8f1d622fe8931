#include "texture/vk_format_traits.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>

#include "gpumem/texture/dfd.hpp"

namespace gpumem::ktx2::detail {
namespace {

constexpr std::uint32_t kLastCoreFormat = 184;  // VK_FORMAT_ASTC_12x12_SRGB_BLOCK
constexpr std::uint32_t kExtensionBase = 1000000000;
constexpr std::uint32_t kLargestEnum = 0x7FFFFFFF;  // VkFormat is a 32-bit signed enum

// KTX2 section 3.1.1: USCALED and SSCALED formats, and A8B8G8R8_*_PACK32 (which repeat
// R8G8B8A8 on little-endian hosts).
bool prohibited_core(std::uint32_t vk) {
  constexpr std::array<std::uint32_t, 24> kScaled = {11, 12, 18, 19, 25, 26, 32, 33,
                                                     39, 40, 46, 47, 53, 54, 60, 61,
                                                     66, 67, 72, 73, 79, 80, 86, 87};
  for (const std::uint32_t s : kScaled) {
    if (s == vk) return true;
  }
  return (vk >= 51 && vk <= 57) || vk == 93 || vk == 94;
}

// bytes of one component, or of the whole pack for *_PACKnn formats: KTX2's typeSize
std::uint32_t type_size_from_name(std::string_view name) {
  if (const auto pack = name.find("PACK"); pack != name.npos) {
    const std::string_view bits = name.substr(pack + 4);
    return bits.starts_with("8") ? 1 : bits.starts_with("16") ? 2 : 4;
  }
  if (name.starts_with("D16")) return 2;
  if (name.starts_with("D32") || name.starts_with("D24") || name.starts_with("X8")) return 4;
  if (name.starts_with("S8")) return 1;
  if (name.find("32") != name.npos) return 4;
  if (name.find("16") != name.npos) return 2;
  return 1;
}

std::uint8_t model_for(const FormatInfo& info) {
  const std::string_view n = info.name;
  switch (info.family) {
    case FormatFamily::Uncompressed:
    case FormatFamily::DepthStencil:
      return kModelRgbsda;
    case FormatFamily::BC:
      if (n.starts_with("BC1")) return kModelBc1a;
      if (n.starts_with("BC2")) return kModelBc2;
      if (n.starts_with("BC3")) return kModelBc3;
      if (n.starts_with("BC4")) return kModelBc4;
      if (n.starts_with("BC5")) return kModelBc5;
      if (n.starts_with("BC6H")) return kModelBc6h;
      return kModelBc7;
    case FormatFamily::ETC2:
    case FormatFamily::EAC:
      return kModelEtc2;
    case FormatFamily::ASTC:
      return kModelAstc;
  }
  return kModelUnspecified;
}

VkFormatTraits from_texture_format(const FormatInfo& info) {
  VkFormatTraits t;
  t.kind = VkFormatClass::Known;
  t.name = std::string(info.name);
  t.block_width = info.block_width;
  t.block_height = info.block_height;
  t.block_depth = info.block_depth;
  // KTX2 stores combined depth/stencil formats with Vulkan's texel padding (KTX-Software's
  // bytesPlane0): D16S8 in 4 bytes, D32S8 in 8.
  t.bytes_per_block = info.format == TextureFormat::D16_UNORM_S8_UINT    ? 4U
                      : info.format == TextureFormat::D32_SFLOAT_S8_UINT ? 8U
                                                                         : info.bytes_per_block;
  t.compressed = info.compressed;
  t.type_size = info.compressed ? 1 : type_size_from_name(info.name);
  t.srgb = info.srgb;
  t.depth_or_stencil = info.depth || info.stencil;
  t.astc = info.family == FormatFamily::ASTC;
  t.color_model = model_for(info);
  t.format = info.format;
  return t;
}

VkFormatTraits block(std::string name, std::uint32_t w, std::uint32_t h, std::uint32_t d,
                     std::uint32_t bytes, std::uint8_t model) {
  VkFormatTraits t;
  t.kind = VkFormatClass::Known;
  t.srgb = name.find("SRGB") != std::string::npos;
  t.hdr_astc = model == kModelAstc && name.find("SFLOAT") != std::string::npos;
  t.astc = model == kModelAstc;
  t.name = std::move(name);
  t.block_width = w;
  t.block_height = h;
  t.block_depth = d;
  t.bytes_per_block = bytes;
  t.compressed = true;
  t.color_model = model;
  return t;
}

VkFormatTraits texel(std::string name, std::uint32_t type_size, std::uint32_t bytes,
                     std::uint32_t block_width = 1, std::uint8_t model = kModelRgbsda) {
  VkFormatTraits t;
  t.kind = VkFormatClass::Known;
  t.name = std::move(name);
  t.type_size = type_size;
  t.block_width = block_width;
  t.bytes_per_block = bytes;
  t.color_model = model;
  return t;
}

// ASTC HDR (VK_EXT_texture_compression_astc_hdr), 2D footprints in Vulkan's order.
constexpr std::array<std::array<std::uint32_t, 2>, 14> kAstc2d = {{{4, 4},
                                                                   {5, 4},
                                                                   {5, 5},
                                                                   {6, 5},
                                                                   {6, 6},
                                                                   {8, 5},
                                                                   {8, 6},
                                                                   {8, 8},
                                                                   {10, 5},
                                                                   {10, 6},
                                                                   {10, 8},
                                                                   {10, 10},
                                                                   {12, 10},
                                                                   {12, 12}}};
// ASTC 3D (VK_EXT_astc_3d), each footprint as UNORM, SRGB, SFLOAT.
constexpr std::array<std::array<std::uint32_t, 3>, 10> kAstc3d = {{{3, 3, 3},
                                                                   {4, 3, 3},
                                                                   {4, 4, 3},
                                                                   {4, 4, 4},
                                                                   {5, 4, 4},
                                                                   {5, 5, 4},
                                                                   {5, 5, 5},
                                                                   {6, 5, 5},
                                                                   {6, 6, 5},
                                                                   {6, 6, 6}}};

std::optional<VkFormatTraits> extension_traits(std::uint32_t vk) {
  if (vk >= 1000066000 && vk < 1000066000 + kAstc2d.size()) {
    const auto& [w, h] = kAstc2d[vk - 1000066000];
    return block(fmt::format("ASTC_{}x{}_SFLOAT_BLOCK", w, h), w, h, 1, 16, kModelAstc);
  }
  if (vk >= 1000288000 && vk < 1000288000 + 3 * kAstc3d.size()) {
    const auto& [w, h, d] = kAstc3d[(vk - 1000288000) / 3];
    constexpr std::array<std::string_view, 3> kSuffix = {"UNORM", "SRGB", "SFLOAT"};
    return block(fmt::format("ASTC_{}x{}x{}_{}_BLOCK_EXT", w, h, d, kSuffix[(vk - 1000288000) % 3]),
                 w, h, d, 16, kModelAstc);
  }
  if (vk >= 1000054000 && vk <= 1000054007) {  // PVRTC1/2, 2 and 4 bits per pixel
    const std::uint32_t i = vk - 1000054000;
    const bool two_bpp = i % 2 == 0;
    const bool v2 = (i % 4) >= 2;
    return block(fmt::format("PVRTC{}_{}BPP_{}_BLOCK_IMG", v2 ? 2 : 1, two_bpp ? 2 : 4,
                             i >= 4 ? "SRGB" : "UNORM"),
                 two_bpp ? 8 : 4, 4, 1, 8, v2 ? kModelPvrtc2 : kModelPvrtc);
  }
  switch (vk) {
    case 1000340000:
      return texel("A4R4G4B4_UNORM_PACK16_EXT", 2, 2);
    case 1000340001:
      return texel("A4B4G4R4_UNORM_PACK16_EXT", 2, 2);
    case 1000470000:
      return texel("A1B5G5R5_UNORM_PACK16_KHR", 2, 2);
    case 1000470001:
      return texel("A8_UNORM_KHR", 1, 1);
    case 1000156000:
      return texel("G8B8G8R8_422_UNORM", 1, 4, 2, kModelYuvsda);
    case 1000156001:
      return texel("B8G8R8G8_422_UNORM", 1, 4, 2, kModelYuvsda);
    case 1000156007:
      return texel("R10X6_UNORM_PACK16", 2, 2);
    case 1000156008:
      return texel("R10X6G10X6_UNORM_2PACK16", 2, 4);
    case 1000156009:
      return texel("R10X6G10X6B10X6A10X6_UNORM_4PACK16", 2, 8);
    case 1000156010:
      return texel("G10X6B10X6G10X6R10X6_422_UNORM_4PACK16", 2, 8, 2, kModelYuvsda);
    case 1000156011:
      return texel("B10X6G10X6R10X6G10X6_422_UNORM_4PACK16", 2, 8, 2, kModelYuvsda);
    case 1000156017:
      return texel("R12X4_UNORM_PACK16", 2, 2);
    case 1000156018:
      return texel("R12X4G12X4_UNORM_2PACK16", 2, 4);
    case 1000156019:
      return texel("R12X4G12X4B12X4A12X4_UNORM_4PACK16", 2, 8);
    case 1000156020:
      return texel("G12X4B12X4G12X4R12X4_422_UNORM_4PACK16", 2, 8, 2, kModelYuvsda);
    case 1000156021:
      return texel("B12X4G12X4R12X4G12X4_422_UNORM_4PACK16", 2, 8, 2, kModelYuvsda);
    case 1000156027:
      return texel("G16B16G16R16_422_UNORM", 2, 8, 2, kModelYuvsda);
    case 1000156028:
      return texel("B16G16R16G16_422_UNORM", 2, 8, 2, kModelYuvsda);
    default:
      break;
  }
  return std::nullopt;
}

// Multi-planar YCbCr formats: KTX2 stores one plane per level, so it prohibits them.
bool prohibited_extension(std::uint32_t vk) {
  return (vk >= 1000156002 && vk <= 1000156033) || (vk >= 1000330000 && vk <= 1000330003);
}

}  // namespace

VkFormatTraits vk_format_traits(std::uint32_t vk) {
  VkFormatTraits t;
  t.name = std::to_string(vk);
  if (vk == 0) {
    t.kind = VkFormatClass::Undefined;
    t.name = "UNDEFINED";
    return t;
  }
  if (vk <= kLastCoreFormat) {
    if (prohibited_core(vk)) {
      t.kind = VkFormatClass::Prohibited;
      return t;
    }
    if (const auto format = format_from_vk_format(vk))
      return from_texture_format(format_info(*format));
    if (vk >= 110 && vk <= 121) {  // R64 .. R64G64B64A64, UINT/SINT/SFLOAT
      const std::uint32_t channels = (vk - 110) / 3 + 1;
      constexpr std::array<std::string_view, 3> kSuffix = {"UINT", "SINT", "SFLOAT"};
      const std::array<std::string_view, 4> kNames = {"R64", "R64G64", "R64G64B64", "R64G64B64A64"};
      return texel(fmt::format("{}_{}", kNames[channels - 1], kSuffix[(vk - 110) % 3]), 8,
                   8 * channels);
    }
    t.kind = VkFormatClass::Invalid;  // nothing else in the core range is missing
    return t;
  }
  if (vk < kExtensionBase || vk > kLargestEnum) {
    t.kind = VkFormatClass::Invalid;
    return t;
  }
  if (prohibited_extension(vk) && !extension_traits(vk)) {
    t.kind = VkFormatClass::Prohibited;
    return t;
  }
  if (auto ext = extension_traits(vk)) return *ext;
  t.kind = VkFormatClass::Unknown;
  return t;
}

}  // namespace gpumem::ktx2::detail
