// Section 1 and 2 of the reader's checks: the identifier, the header's fields and the index.
#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include "texture/read_context.hpp"

namespace gpumem::ktx2::detail {
namespace {

constexpr std::uint32_t kFirstVendorScheme = 0x10000;
constexpr std::uint32_t kLastVendorScheme = 0x1FFFF;

void read_fields(ReadContext& ctx) {
  const ByteView& v = ctx.view;
  Header& h = ctx.file.header;
  h.vk_format = v.u32(kOffsetVkFormat, "vkFormat");
  h.type_size = v.u32(kOffsetTypeSize, "typeSize");
  h.pixel_width = v.u32(kOffsetWidth, "pixelWidth");
  h.pixel_height = v.u32(kOffsetHeight, "pixelHeight");
  h.pixel_depth = v.u32(kOffsetDepth, "pixelDepth");
  h.layer_count = v.u32(kOffsetLayers, "layerCount");
  h.face_count = v.u32(kOffsetFaces, "faceCount");
  h.level_count = v.u32(kOffsetLevels, "levelCount");
  h.supercompression = v.u32(kOffsetSupercompression, "supercompressionScheme");
  h.dfd_offset = v.u32(kOffsetDfdOffset, "dfdByteOffset");
  h.dfd_length = v.u32(kOffsetDfdLength, "dfdByteLength");
  h.kvd_offset = v.u32(kOffsetKvdOffset, "kvdByteOffset");
  h.kvd_length = v.u32(kOffsetKvdLength, "kvdByteLength");
  h.sgd_offset = v.u64(kOffsetSgdOffset, "sgdByteOffset");
  h.sgd_length = v.u64(kOffsetSgdLength, "sgdByteLength");
}

void check_format(ReadContext& ctx) {
  const Header& h = ctx.file.header;
  ctx.traits = vk_format_traits(h.vk_format);
  const VkFormatTraits& t = ctx.traits;
  switch (t.kind) {
    case VkFormatClass::Prohibited:
      ctx.fail("vkFormat", kOffsetVkFormat,
               fmt::format("VkFormat {} is prohibited in KTX2 files", h.vk_format));
    case VkFormatClass::Invalid:
      ctx.fail("vkFormat", kOffsetVkFormat,
               fmt::format("{} (0x{:X}) is not a VkFormat", h.vk_format, h.vk_format));
    case VkFormatClass::Unknown:
      ctx.warn("vkFormat", kOffsetVkFormat,
               fmt::format("VkFormat {} is not one this reader knows", h.vk_format));
      break;
    default:
      break;
  }
  if (h.vk_format != 0 && h.supercompression == 1) {
    ctx.fail(
        "vkFormat", kOffsetVkFormat,
        fmt::format("must be VK_FORMAT_UNDEFINED with BasisLZ supercompression, not {}", t.name));
  }
  const bool block_compressed = t.kind == VkFormatClass::Known && t.compressed;
  if ((block_compressed || h.vk_format == 0) && h.type_size != 1) {
    ctx.fail("typeSize", kOffsetTypeSize,
             fmt::format("must be 1 for {}, not {}", t.name, h.type_size));
  }
  if (t.kind == VkFormatClass::Known && !t.compressed && h.type_size != t.type_size) {
    ctx.fail("typeSize", kOffsetTypeSize,
             fmt::format("must be {} for {}, not {}", t.type_size, t.name, h.type_size));
  }
}

void check_extent(ReadContext& ctx) {
  const Header& h = ctx.file.header;
  const VkFormatTraits& t = ctx.traits;
  const bool block_compressed = t.kind == VkFormatClass::Known && t.compressed;
  if (h.pixel_width == 0) ctx.fail("pixelWidth", kOffsetWidth, "must not be 0");
  if (block_compressed && h.pixel_height == 0) {
    ctx.fail("pixelHeight", kOffsetHeight,
             fmt::format("must not be 0: {} is block-compressed (no 1D textures)", t.name));
  }
  if (h.face_count == 6 && h.pixel_width != h.pixel_height) {
    ctx.fail("pixelHeight", kOffsetHeight,
             fmt::format("a cube map's faces are square: width {} but height {}", h.pixel_width,
                         h.pixel_height));
  }
  if (h.pixel_depth != 0 && h.pixel_height == 0) {
    ctx.fail("pixelHeight", kOffsetHeight, "must not be 0 when pixelDepth is set (3D)");
  }
  if (block_compressed && t.block_depth > 1 && h.pixel_depth == 0) {
    ctx.fail("pixelDepth", kOffsetDepth, fmt::format("must not be 0: {} has 3D blocks", t.name));
  }
  if (t.depth_or_stencil && h.pixel_depth != 0) {
    ctx.fail("pixelDepth", kOffsetDepth,
             fmt::format("must be 0: {} is a depth/stencil format (no 3D)", t.name));
  }
  if (h.face_count == 6 && h.pixel_depth != 0) {
    ctx.fail("pixelDepth", kOffsetDepth, "must be 0 for a cube map");
  }
  if (h.pixel_depth != 0 && h.layer_count != 0) {
    ctx.warn("layerCount", kOffsetLayers, "a 3D array texture: few APIs can use it");
  }
  if (h.face_count != 1 && h.face_count != 6) {
    ctx.fail("faceCount", kOffsetFaces, fmt::format("must be 1 or 6, not {}", h.face_count));
  }
  const std::uint32_t largest = std::max({h.pixel_width, h.pixel_height, h.pixel_depth});
  const auto max_levels = static_cast<std::uint32_t>(std::bit_width(largest));
  if (h.level_count > max_levels) {
    ctx.fail("levelCount", kOffsetLevels,
             fmt::format("{} levels but a {}x{}x{} texture has at most {}", h.level_count,
                         h.pixel_width, h.pixel_height, h.pixel_depth, max_levels));
  }
  if (block_compressed && h.level_count == 0) {
    ctx.fail("levelCount", kOffsetLevels,
             fmt::format("must not be 0: mips of {} cannot be generated at load", t.name));
  }
}

void check_scheme(ReadContext& ctx) {
  const std::uint32_t scheme = ctx.file.header.supercompression;
  if (scheme <= 3) return;
  if (scheme >= kFirstVendorScheme && scheme <= kLastVendorScheme) {
    ctx.warn("supercompressionScheme", kOffsetSupercompression,
             fmt::format("vendor scheme 0x{:X}: the levels cannot be read", scheme));
    return;
  }
  ctx.fail("supercompressionScheme", kOffsetSupercompression,
           fmt::format("{} is not a scheme this reader knows (0 none, 1 BasisLZ, 2 Zstandard, "
                       "3 zlib; 0x10000-0x1FFFF vendor)",
                       scheme));
}

}  // namespace

void check_header(ReadContext& ctx) {
  const ByteView& v = ctx.view;
  if (v.size() < kHeaderBytes) {
    ctx.fail("header", v.size(),
             fmt::format("the file is {} bytes, shorter than the {}-byte KTX2 header "
                         "(unexpected end of file)",
                         v.size(), kHeaderBytes));
  }
  for (std::size_t i = 0; i < kIdentifier.size(); ++i) {
    if (v.u8(i, "identifier") != kIdentifier[i]) {
      ctx.fail("identifier", i, "not a KTX2 file (the 12-byte identifier does not match)");
    }
  }
  read_fields(ctx);
  check_format(ctx);
  check_extent(ctx);
  check_scheme(ctx);
}

void check_index(ReadContext& ctx) {
  const Header& h = ctx.file.header;
  const std::uint64_t level_index_end = kOffsetLevelIndex + kLevelEntryBytes * ctx.levels();
  if (h.dfd_offset == 0 || h.dfd_length == 0) {
    ctx.fail("dfdByteOffset", kOffsetDfdOffset, "the Data Format Descriptor is missing");
  }
  if (h.dfd_offset != level_index_end) {
    ctx.fail("dfdByteOffset", kOffsetDfdOffset,
             fmt::format("is {} but the DFD must follow the level index at {}", h.dfd_offset,
                         level_index_end));
  }
  if (h.dfd_length % 4 != 0 || h.dfd_length < 4) {
    ctx.fail("dfdByteLength", kOffsetDfdLength,
             fmt::format("{} is not a whole number of 4-byte words", h.dfd_length));
  }
  std::uint64_t end = std::uint64_t{h.dfd_offset} + h.dfd_length;
  if (h.kvd_length == 0 && h.kvd_offset != 0) {
    ctx.fail("kvdByteOffset", kOffsetKvdOffset,
             fmt::format("is {} but kvdByteLength is 0 (must then be 0)", h.kvd_offset));
  }
  if (h.kvd_length != 0) {
    if (h.kvd_offset != end) {
      ctx.fail(
          "kvdByteOffset", kOffsetKvdOffset,
          fmt::format("is {} but key/value data must follow the DFD at {}", h.kvd_offset, end));
    }
    end += h.kvd_length;
  }
  if (h.sgd_length == 0 && h.sgd_offset != 0) {
    ctx.fail("sgdByteOffset", kOffsetSgdOffset,
             fmt::format("is {} but sgdByteLength is 0 (must then be 0)", h.sgd_offset));
  }
  if (h.sgd_length != 0 && h.sgd_offset != align_up(end, 8)) {
    ctx.fail("sgdByteOffset", kOffsetSgdOffset,
             fmt::format("is {} but global data must start at the next multiple of 8 after "
                         "byte {}, {}",
                         h.sgd_offset, end, align_up(end, 8)));
  }
  if (ctx.basis_lz() && h.sgd_length == 0) {
    ctx.fail("sgdByteLength", kOffsetSgdLength,
             "BasisLZ needs supercompression global data but there is none");
  }
  if (!ctx.basis_lz() && h.sgd_length != 0 && h.supercompression <= 3) {
    ctx.fail("sgdByteLength", kOffsetSgdLength,
             fmt::format("{} bytes of global data, but {} has none", h.sgd_length,
                         to_string(ctx.file.supercompression())));
  }
  ctx.view.require("Data Format Descriptor", h.dfd_offset, h.dfd_length);
  ctx.view.require("key/value data", h.kvd_offset, h.kvd_length);
  ctx.view.require("supercompression global data", h.sgd_offset, h.sgd_length);
}

}  // namespace gpumem::ktx2::detail
