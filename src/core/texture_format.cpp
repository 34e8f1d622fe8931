#include "gpumem/core/texture_format.hpp"

#include <fmt/format.h>

#include <array>
#include <limits>
#include <string>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

// Vulkan puts "SRGB" in the name of every sRGB-encoded format and of no other.
constexpr bool names_srgb(std::string_view name) { return name.find("SRGB") != name.npos; }

constexpr FormatInfo make_info(TextureFormat format, std::string_view name, std::uint32_t vk,
                               FormatFamily family, std::uint8_t block_width,
                               std::uint8_t block_height, std::uint8_t bytes_per_block,
                               bool depth = false, bool stencil = false) {
  const bool compressed =
      family != FormatFamily::Uncompressed && family != FormatFamily::DepthStencil;
  return FormatInfo{.format = format,
                    .name = name,
                    .vk_format = vk,
                    .family = family,
                    .block_width = block_width,
                    .block_height = block_height,
                    .block_depth = 1,
                    .bytes_per_block = bytes_per_block,
                    .compressed = compressed,
                    .srgb = names_srgb(name),
                    .depth = depth,
                    .stencil = stencil};
}

constexpr FormatInfo texel(TextureFormat format, std::string_view name, std::uint32_t vk,
                           std::uint8_t bytes) {
  return make_info(format, name, vk, FormatFamily::Uncompressed, 1, 1, bytes);
}

enum class Aspects { Depth, Stencil, DepthStencil };

// Combined depth/stencil formats use Vulkan's texel block size (the sum of the aspects that
// vkCmdCopyImageToBuffer moves: D16S8 = 2 + 1, D32FS8 = 4 + 1; D24S8 packs into 4), which is also
// what GPUs that keep stencil in its own plane store. Others pad: D3D's D32_FLOAT_S8X24 takes 8
// bytes, and some drivers round D16S8 up to 4; the allocation the driver reports is the authority
// for device memory, this is the texels' own size.
constexpr FormatInfo depth_stencil(TextureFormat format, std::string_view name, std::uint32_t vk,
                                   std::uint8_t bytes, Aspects aspects) {
  return make_info(format, name, vk, FormatFamily::DepthStencil, 1, 1, bytes,
                   aspects != Aspects::Stencil, aspects != Aspects::Depth);
}

constexpr FormatInfo block4x4(TextureFormat format, std::string_view name, std::uint32_t vk,
                              FormatFamily family, std::uint8_t bytes) {
  return make_info(format, name, vk, family, 4, 4, bytes);
}

// Every ASTC block is 128 bits whatever its footprint.
constexpr FormatInfo astc(TextureFormat format, std::string_view name, std::uint32_t vk,
                          std::uint8_t block_width, std::uint8_t block_height) {
  return make_info(format, name, vk, FormatFamily::ASTC, block_width, block_height, 16);
}

// The enumerator and its name from one token, so the two cannot drift apart.
#define GPUMEM_FORMAT(id) TextureFormat::id, #id

constexpr FormatFamily kBC = FormatFamily::BC;
constexpr FormatFamily kETC2 = FormatFamily::ETC2;
constexpr FormatFamily kEAC = FormatFamily::EAC;

// VkFormat values from vulkan_core.h (Vulkan-Headers), enum VkFormat.
constexpr std::array<FormatInfo, kTextureFormatCount> kFormats = {{
    texel(GPUMEM_FORMAT(R4G4_UNORM_PACK8), 1, 1),
    texel(GPUMEM_FORMAT(R4G4B4A4_UNORM_PACK16), 2, 2),
    texel(GPUMEM_FORMAT(B4G4R4A4_UNORM_PACK16), 3, 2),
    texel(GPUMEM_FORMAT(R5G6B5_UNORM_PACK16), 4, 2),
    texel(GPUMEM_FORMAT(B5G6R5_UNORM_PACK16), 5, 2),
    texel(GPUMEM_FORMAT(R5G5B5A1_UNORM_PACK16), 6, 2),
    texel(GPUMEM_FORMAT(B5G5R5A1_UNORM_PACK16), 7, 2),
    texel(GPUMEM_FORMAT(A1R5G5B5_UNORM_PACK16), 8, 2),
    texel(GPUMEM_FORMAT(R8_UNORM), 9, 1),
    texel(GPUMEM_FORMAT(R8_SNORM), 10, 1),
    texel(GPUMEM_FORMAT(R8_UINT), 13, 1),
    texel(GPUMEM_FORMAT(R8_SINT), 14, 1),
    texel(GPUMEM_FORMAT(R8_SRGB), 15, 1),
    texel(GPUMEM_FORMAT(R8G8_UNORM), 16, 2),
    texel(GPUMEM_FORMAT(R8G8_SNORM), 17, 2),
    texel(GPUMEM_FORMAT(R8G8_UINT), 20, 2),
    texel(GPUMEM_FORMAT(R8G8_SINT), 21, 2),
    texel(GPUMEM_FORMAT(R8G8_SRGB), 22, 2),
    texel(GPUMEM_FORMAT(R8G8B8_UNORM), 23, 3),
    texel(GPUMEM_FORMAT(R8G8B8_SNORM), 24, 3),
    texel(GPUMEM_FORMAT(R8G8B8_UINT), 27, 3),
    texel(GPUMEM_FORMAT(R8G8B8_SINT), 28, 3),
    texel(GPUMEM_FORMAT(R8G8B8_SRGB), 29, 3),
    texel(GPUMEM_FORMAT(B8G8R8_UNORM), 30, 3),
    texel(GPUMEM_FORMAT(B8G8R8_SNORM), 31, 3),
    texel(GPUMEM_FORMAT(B8G8R8_UINT), 34, 3),
    texel(GPUMEM_FORMAT(B8G8R8_SINT), 35, 3),
    texel(GPUMEM_FORMAT(B8G8R8_SRGB), 36, 3),
    texel(GPUMEM_FORMAT(R8G8B8A8_UNORM), 37, 4),
    texel(GPUMEM_FORMAT(R8G8B8A8_SNORM), 38, 4),
    texel(GPUMEM_FORMAT(R8G8B8A8_UINT), 41, 4),
    texel(GPUMEM_FORMAT(R8G8B8A8_SINT), 42, 4),
    texel(GPUMEM_FORMAT(R8G8B8A8_SRGB), 43, 4),
    texel(GPUMEM_FORMAT(B8G8R8A8_UNORM), 44, 4),
    texel(GPUMEM_FORMAT(B8G8R8A8_SNORM), 45, 4),
    texel(GPUMEM_FORMAT(B8G8R8A8_UINT), 48, 4),
    texel(GPUMEM_FORMAT(B8G8R8A8_SINT), 49, 4),
    texel(GPUMEM_FORMAT(B8G8R8A8_SRGB), 50, 4),
    texel(GPUMEM_FORMAT(A8B8G8R8_UNORM_PACK32), 51, 4),
    texel(GPUMEM_FORMAT(A8B8G8R8_SNORM_PACK32), 52, 4),
    texel(GPUMEM_FORMAT(A8B8G8R8_UINT_PACK32), 55, 4),
    texel(GPUMEM_FORMAT(A8B8G8R8_SINT_PACK32), 56, 4),
    texel(GPUMEM_FORMAT(A8B8G8R8_SRGB_PACK32), 57, 4),
    texel(GPUMEM_FORMAT(A2R10G10B10_UNORM_PACK32), 58, 4),
    texel(GPUMEM_FORMAT(A2R10G10B10_SNORM_PACK32), 59, 4),
    texel(GPUMEM_FORMAT(A2R10G10B10_UINT_PACK32), 62, 4),
    texel(GPUMEM_FORMAT(A2R10G10B10_SINT_PACK32), 63, 4),
    texel(GPUMEM_FORMAT(A2B10G10R10_UNORM_PACK32), 64, 4),
    texel(GPUMEM_FORMAT(A2B10G10R10_SNORM_PACK32), 65, 4),
    texel(GPUMEM_FORMAT(A2B10G10R10_UINT_PACK32), 68, 4),
    texel(GPUMEM_FORMAT(A2B10G10R10_SINT_PACK32), 69, 4),
    texel(GPUMEM_FORMAT(R16_UNORM), 70, 2),
    texel(GPUMEM_FORMAT(R16_SNORM), 71, 2),
    texel(GPUMEM_FORMAT(R16_UINT), 74, 2),
    texel(GPUMEM_FORMAT(R16_SINT), 75, 2),
    texel(GPUMEM_FORMAT(R16_SFLOAT), 76, 2),
    texel(GPUMEM_FORMAT(R16G16_UNORM), 77, 4),
    texel(GPUMEM_FORMAT(R16G16_SNORM), 78, 4),
    texel(GPUMEM_FORMAT(R16G16_UINT), 81, 4),
    texel(GPUMEM_FORMAT(R16G16_SINT), 82, 4),
    texel(GPUMEM_FORMAT(R16G16_SFLOAT), 83, 4),
    texel(GPUMEM_FORMAT(R16G16B16_UNORM), 84, 6),
    texel(GPUMEM_FORMAT(R16G16B16_SNORM), 85, 6),
    texel(GPUMEM_FORMAT(R16G16B16_UINT), 88, 6),
    texel(GPUMEM_FORMAT(R16G16B16_SINT), 89, 6),
    texel(GPUMEM_FORMAT(R16G16B16_SFLOAT), 90, 6),
    texel(GPUMEM_FORMAT(R16G16B16A16_UNORM), 91, 8),
    texel(GPUMEM_FORMAT(R16G16B16A16_SNORM), 92, 8),
    texel(GPUMEM_FORMAT(R16G16B16A16_UINT), 95, 8),
    texel(GPUMEM_FORMAT(R16G16B16A16_SINT), 96, 8),
    texel(GPUMEM_FORMAT(R16G16B16A16_SFLOAT), 97, 8),
    texel(GPUMEM_FORMAT(R32_UINT), 98, 4),
    texel(GPUMEM_FORMAT(R32_SINT), 99, 4),
    texel(GPUMEM_FORMAT(R32_SFLOAT), 100, 4),
    texel(GPUMEM_FORMAT(R32G32_UINT), 101, 8),
    texel(GPUMEM_FORMAT(R32G32_SINT), 102, 8),
    texel(GPUMEM_FORMAT(R32G32_SFLOAT), 103, 8),
    texel(GPUMEM_FORMAT(R32G32B32_UINT), 104, 12),
    texel(GPUMEM_FORMAT(R32G32B32_SINT), 105, 12),
    texel(GPUMEM_FORMAT(R32G32B32_SFLOAT), 106, 12),
    texel(GPUMEM_FORMAT(R32G32B32A32_UINT), 107, 16),
    texel(GPUMEM_FORMAT(R32G32B32A32_SINT), 108, 16),
    texel(GPUMEM_FORMAT(R32G32B32A32_SFLOAT), 109, 16),
    texel(GPUMEM_FORMAT(B10G11R11_UFLOAT_PACK32), 122, 4),
    texel(GPUMEM_FORMAT(E5B9G9R9_UFLOAT_PACK32), 123, 4),
    depth_stencil(GPUMEM_FORMAT(D16_UNORM), 124, 2, Aspects::Depth),
    depth_stencil(GPUMEM_FORMAT(X8_D24_UNORM_PACK32), 125, 4, Aspects::Depth),
    depth_stencil(GPUMEM_FORMAT(D32_SFLOAT), 126, 4, Aspects::Depth),
    depth_stencil(GPUMEM_FORMAT(S8_UINT), 127, 1, Aspects::Stencil),
    depth_stencil(GPUMEM_FORMAT(D16_UNORM_S8_UINT), 128, 3, Aspects::DepthStencil),
    depth_stencil(GPUMEM_FORMAT(D24_UNORM_S8_UINT), 129, 4, Aspects::DepthStencil),
    depth_stencil(GPUMEM_FORMAT(D32_SFLOAT_S8_UINT), 130, 5, Aspects::DepthStencil),
    block4x4(GPUMEM_FORMAT(BC1_RGB_UNORM_BLOCK), 131, kBC, 8),
    block4x4(GPUMEM_FORMAT(BC1_RGB_SRGB_BLOCK), 132, kBC, 8),
    block4x4(GPUMEM_FORMAT(BC1_RGBA_UNORM_BLOCK), 133, kBC, 8),
    block4x4(GPUMEM_FORMAT(BC1_RGBA_SRGB_BLOCK), 134, kBC, 8),
    block4x4(GPUMEM_FORMAT(BC2_UNORM_BLOCK), 135, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC2_SRGB_BLOCK), 136, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC3_UNORM_BLOCK), 137, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC3_SRGB_BLOCK), 138, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC4_UNORM_BLOCK), 139, kBC, 8),
    block4x4(GPUMEM_FORMAT(BC4_SNORM_BLOCK), 140, kBC, 8),
    block4x4(GPUMEM_FORMAT(BC5_UNORM_BLOCK), 141, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC5_SNORM_BLOCK), 142, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC6H_UFLOAT_BLOCK), 143, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC6H_SFLOAT_BLOCK), 144, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC7_UNORM_BLOCK), 145, kBC, 16),
    block4x4(GPUMEM_FORMAT(BC7_SRGB_BLOCK), 146, kBC, 16),
    block4x4(GPUMEM_FORMAT(ETC2_R8G8B8_UNORM_BLOCK), 147, kETC2, 8),
    block4x4(GPUMEM_FORMAT(ETC2_R8G8B8_SRGB_BLOCK), 148, kETC2, 8),
    block4x4(GPUMEM_FORMAT(ETC2_R8G8B8A1_UNORM_BLOCK), 149, kETC2, 8),
    block4x4(GPUMEM_FORMAT(ETC2_R8G8B8A1_SRGB_BLOCK), 150, kETC2, 8),
    block4x4(GPUMEM_FORMAT(ETC2_R8G8B8A8_UNORM_BLOCK), 151, kETC2, 16),
    block4x4(GPUMEM_FORMAT(ETC2_R8G8B8A8_SRGB_BLOCK), 152, kETC2, 16),
    block4x4(GPUMEM_FORMAT(EAC_R11_UNORM_BLOCK), 153, kEAC, 8),
    block4x4(GPUMEM_FORMAT(EAC_R11_SNORM_BLOCK), 154, kEAC, 8),
    block4x4(GPUMEM_FORMAT(EAC_R11G11_UNORM_BLOCK), 155, kEAC, 16),
    block4x4(GPUMEM_FORMAT(EAC_R11G11_SNORM_BLOCK), 156, kEAC, 16),
    astc(GPUMEM_FORMAT(ASTC_4x4_UNORM_BLOCK), 157, 4, 4),
    astc(GPUMEM_FORMAT(ASTC_4x4_SRGB_BLOCK), 158, 4, 4),
    astc(GPUMEM_FORMAT(ASTC_5x4_UNORM_BLOCK), 159, 5, 4),
    astc(GPUMEM_FORMAT(ASTC_5x4_SRGB_BLOCK), 160, 5, 4),
    astc(GPUMEM_FORMAT(ASTC_5x5_UNORM_BLOCK), 161, 5, 5),
    astc(GPUMEM_FORMAT(ASTC_5x5_SRGB_BLOCK), 162, 5, 5),
    astc(GPUMEM_FORMAT(ASTC_6x5_UNORM_BLOCK), 163, 6, 5),
    astc(GPUMEM_FORMAT(ASTC_6x5_SRGB_BLOCK), 164, 6, 5),
    astc(GPUMEM_FORMAT(ASTC_6x6_UNORM_BLOCK), 165, 6, 6),
    astc(GPUMEM_FORMAT(ASTC_6x6_SRGB_BLOCK), 166, 6, 6),
    astc(GPUMEM_FORMAT(ASTC_8x5_UNORM_BLOCK), 167, 8, 5),
    astc(GPUMEM_FORMAT(ASTC_8x5_SRGB_BLOCK), 168, 8, 5),
    astc(GPUMEM_FORMAT(ASTC_8x6_UNORM_BLOCK), 169, 8, 6),
    astc(GPUMEM_FORMAT(ASTC_8x6_SRGB_BLOCK), 170, 8, 6),
    astc(GPUMEM_FORMAT(ASTC_8x8_UNORM_BLOCK), 171, 8, 8),
    astc(GPUMEM_FORMAT(ASTC_8x8_SRGB_BLOCK), 172, 8, 8),
    astc(GPUMEM_FORMAT(ASTC_10x5_UNORM_BLOCK), 173, 10, 5),
    astc(GPUMEM_FORMAT(ASTC_10x5_SRGB_BLOCK), 174, 10, 5),
    astc(GPUMEM_FORMAT(ASTC_10x6_UNORM_BLOCK), 175, 10, 6),
    astc(GPUMEM_FORMAT(ASTC_10x6_SRGB_BLOCK), 176, 10, 6),
    astc(GPUMEM_FORMAT(ASTC_10x8_UNORM_BLOCK), 177, 10, 8),
    astc(GPUMEM_FORMAT(ASTC_10x8_SRGB_BLOCK), 178, 10, 8),
    astc(GPUMEM_FORMAT(ASTC_10x10_UNORM_BLOCK), 179, 10, 10),
    astc(GPUMEM_FORMAT(ASTC_10x10_SRGB_BLOCK), 180, 10, 10),
    astc(GPUMEM_FORMAT(ASTC_12x10_UNORM_BLOCK), 181, 12, 10),
    astc(GPUMEM_FORMAT(ASTC_12x10_SRGB_BLOCK), 182, 12, 10),
    astc(GPUMEM_FORMAT(ASTC_12x12_UNORM_BLOCK), 183, 12, 12),
    astc(GPUMEM_FORMAT(ASTC_12x12_SRGB_BLOCK), 184, 12, 12),
}};

#undef GPUMEM_FORMAT

// format_info() indexes the table by enum value; a row out of place (or a missing row, which
// value-initialises as R4G4_UNORM_PACK8) would silently describe the wrong format.
constexpr bool rows_follow_enum() {
  for (std::size_t i = 0; i < kFormats.size(); ++i) {
    if (static_cast<std::size_t>(kFormats[i].format) != i) return false;
  }
  return true;
}
static_assert(rows_follow_enum(), "kFormats rows must be in TextureFormat order, one per value");

const FormatInfo* find_info(TextureFormat format) noexcept {
  const auto index = static_cast<std::size_t>(format);
  return index < kFormats.size() ? &kFormats[index] : nullptr;
}

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string describe(const FormatInfo& info, const TextureDesc& desc) {
  return fmt::format("{} {}x{}x{}, {} mip levels, {} array layers{}", info.name, desc.width,
                     desc.height, desc.depth, desc.mip_levels, desc.array_layers,
                     desc.cube ? ", cube" : "");
}

// Checked arithmetic: a description whose size does not fit 64 bits is rejected, never wrapped.
class SizeMath {
 public:
  SizeMath(const FormatInfo& info, const TextureDesc& desc) : info_(info), desc_(desc) {}

  std::uint64_t mul(std::uint64_t a, std::uint64_t b) const {
    if (b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b) overflow();
    return a * b;
  }

  std::uint64_t add(std::uint64_t a, std::uint64_t b) const {
    if (a > std::numeric_limits<std::uint64_t>::max() - b) overflow();
    return a + b;
  }

  // One level of one layer or face, partial blocks rounded up to whole ones.
  std::uint64_t level_bytes(std::uint32_t level) const {
    const auto blocks = [level](std::uint32_t base, std::uint64_t block) -> std::uint64_t {
      const std::uint64_t extent = mip_dimension(base, level);
      return (extent + block - 1) / block;
    };
    std::uint64_t bytes =
        mul(blocks(desc_.width, info_.block_width), blocks(desc_.height, info_.block_height));
    bytes = mul(bytes, blocks(desc_.depth, info_.block_depth));
    return mul(bytes, info_.bytes_per_block);
  }

  std::uint64_t total_bytes() const {
    std::uint64_t per_layer = 0;
    for (std::uint32_t level = 0; level < desc_.mip_levels; ++level) {
      per_layer = add(per_layer, level_bytes(level));
    }
    const std::uint64_t faces = desc_.cube ? 6 : 1;
    return mul(per_layer, mul(desc_.array_layers, faces));
  }

 private:
  [[noreturn]] void overflow() const {
    throw InvalidArgument(
        fmt::format("TextureDesc ({}) needs 2^64 bytes or more; its size overflows 64 bits",
                    describe(info_, desc_)));
  }

  const FormatInfo& info_;
  const TextureDesc& desc_;
};

void require_nonzero(std::string_view field, std::uint32_t value) {
  if (value == 0) {
    throw InvalidArgument(fmt::format("TextureDesc.{} is 0; it must be at least 1", field));
  }
}

// Every check of validate() except the size one, which needs the loop that computes the size.
const FormatInfo& check_fields(const TextureDesc& desc) {
  const FormatInfo* info = find_info(desc.format);
  if (info == nullptr) {
    throw InvalidArgument(fmt::format("TextureDesc.format is {}, which is not a TextureFormat",
                                      static_cast<unsigned>(desc.format)));
  }
  require_nonzero("width", desc.width);
  require_nonzero("height", desc.height);
  require_nonzero("depth", desc.depth);
  require_nonzero("array_layers", desc.array_layers);
  require_nonzero("mip_levels", desc.mip_levels);
  const std::uint32_t full = full_mip_count(desc.width, desc.height, desc.depth);
  if (desc.mip_levels > full) {
    throw InvalidArgument(
        fmt::format("TextureDesc.mip_levels is {}, but a {}x{}x{} texture has at most {} levels",
                    desc.mip_levels, desc.width, desc.height, desc.depth, full));
  }
  if (desc.cube && desc.width != desc.height) {
    throw InvalidArgument(
        fmt::format("TextureDesc.cube needs square faces, but width is {} and height is {}",
                    desc.width, desc.height));
  }
  if (desc.cube && desc.depth != 1) {
    throw InvalidArgument(
        fmt::format("TextureDesc.cube needs depth 1, but depth is {}", desc.depth));
  }
  if (desc.depth > 1 && desc.array_layers > 1) {
    throw InvalidArgument(fmt::format(
        "TextureDesc.array_layers is {} for a 3D texture (depth {}); 3D textures have one layer",
        desc.array_layers, desc.depth));
  }
  return *info;
}

}  // namespace

const FormatInfo& format_info(TextureFormat format) {
  const FormatInfo* info = find_info(format);
  if (info == nullptr) {
    throw InvalidArgument(
        fmt::format("format {} is not a TextureFormat", static_cast<unsigned>(format)));
  }
  return *info;
}

std::span<const FormatInfo> texture_formats() noexcept { return kFormats; }

std::string_view to_string(TextureFormat format) noexcept {
  const FormatInfo* info = find_info(format);
  return info != nullptr ? info->name : "unknown";
}

std::optional<TextureFormat> parse_texture_format(std::string_view name) {
  constexpr std::string_view kVkPrefix = "VK_FORMAT_";
  if (name.size() > kVkPrefix.size() && iequals(name.substr(0, kVkPrefix.size()), kVkPrefix)) {
    name.remove_prefix(kVkPrefix.size());
  }
  for (const FormatInfo& info : kFormats) {
    if (iequals(info.name, name)) return info.format;
  }
  return std::nullopt;
}

std::uint32_t vk_format(TextureFormat format) { return format_info(format).vk_format; }

std::optional<TextureFormat> format_from_vk_format(std::uint32_t value) noexcept {
  // A linear scan: a KTX2 reader asks once per file, and it stays right when rows are added.
  for (const FormatInfo& info : kFormats) {
    if (info.vk_format == value) return info.format;
  }
  return std::nullopt;
}

void validate(const TextureDesc& desc) { SizeMath(check_fields(desc), desc).total_bytes(); }

std::uint64_t mip_level_size_bytes(const TextureDesc& desc, std::uint32_t level) {
  const SizeMath math(check_fields(desc), desc);
  math.total_bytes();  // a description whose total overflows is invalid for every question
  if (level >= desc.mip_levels) {
    throw InvalidArgument(fmt::format("mip level {} is out of range: TextureDesc.mip_levels is {}",
                                      level, desc.mip_levels));
  }
  return math.level_bytes(level);
}

std::uint64_t texture_size_bytes(const TextureDesc& desc) {
  return SizeMath(check_fields(desc), desc).total_bytes();
}

std::uint64_t rgba8_equivalent_bytes(const TextureDesc& desc) {
  validate(desc);
  TextureDesc rgba8 = desc;
  rgba8.format = TextureFormat::R8G8B8A8_UNORM;
  return texture_size_bytes(rgba8);
}

}  // namespace gpumem
