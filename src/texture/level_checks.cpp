// Section 3 of the reader's checks: the level index. Levels are stored smallest first, each at
// the first suitably aligned byte after the one before, and hold exactly what the format and
// extent need (supercompressed levels: what they inflate to).
#include <fmt/format.h>

#include <numeric>

#include "texture/read_context.hpp"

namespace gpumem::ktx2::detail {
namespace {

std::string entry_field(std::uint32_t level, std::string_view what) {
  return fmt::format("levelIndex[{}].{}", level, what);
}

std::uint64_t entry_offset(std::uint32_t level) {
  return kOffsetLevelIndex + std::uint64_t{kLevelEntryBytes} * level;
}

// Where the level data may start: after the last of DFD, key/value data and global data.
std::uint64_t data_start(const Header& h) {
  std::uint64_t end = std::uint64_t{h.dfd_offset} + h.dfd_length;
  if (h.kvd_length != 0) end = std::max(end, std::uint64_t{h.kvd_offset} + h.kvd_length);
  if (h.sgd_length != 0) end = std::max(end, h.sgd_offset + h.sgd_length);
  return end;
}

// Texel block geometry of the payload, when it is known: {width, height, depth, bytes}.
struct BlockShape {
  std::uint32_t width = 1;
  std::uint32_t height = 1;
  std::uint32_t depth = 1;
  std::uint32_t bytes = 0;  // 0: unknown
};

BlockShape block_shape(const ReadContext& ctx) {
  if (ctx.traits.kind == VkFormatClass::Known) {
    return {ctx.traits.block_width, ctx.traits.block_height, ctx.traits.block_depth,
            ctx.traits.bytes_per_block};
  }
  if (ctx.file.payload == Payload::Uastc) return {4, 4, 1, 16};
  if (ctx.file.format) {  // VK_FORMAT_UNDEFINED, recognised from the DFD
    const FormatInfo& info = format_info(*ctx.file.format);
    const VkFormatTraits t = vk_format_traits(info.vk_format);
    return {t.block_width, t.block_height, t.block_depth, t.bytes_per_block};
  }
  return {};
}

std::string payload_name(const ReadContext& ctx) {
  if (ctx.traits.kind == VkFormatClass::Known) return ctx.traits.name;
  if (ctx.file.format) return std::string(to_string(*ctx.file.format));
  return std::string(to_string(ctx.file.payload));
}

}  // namespace

std::uint64_t checked_mul(const ReadContext& ctx, std::uint64_t a, std::uint64_t b,
                          std::string_view field, std::uint64_t offset) {
  if (a != 0 && b > UINT64_MAX / a) ctx.fail(field, offset, "the size overflows 64 bits");
  return a * b;
}

void check_level_index(ReadContext& ctx) {
  const std::uint32_t count = ctx.levels();
  ctx.view.require("level index", kOffsetLevelIndex, std::uint64_t{kLevelEntryBytes} * count);
  ctx.file.levels.resize(count);
  for (std::uint32_t level = 0; level < count; ++level) {
    const std::uint64_t at = entry_offset(level);
    LevelIndexEntry& e = ctx.file.levels[level];
    e.byte_offset = ctx.view.u64(at, entry_field(level, "byteOffset"));
    e.byte_length = ctx.view.u64(at + 8, entry_field(level, "byteLength"));
    e.uncompressed_byte_length =
        ctx.view.u64(at + 16, entry_field(level, "uncompressedByteLength"));
    if (!ctx.view.contains(e.byte_offset, e.byte_length)) {
      ctx.fail(entry_field(level, "byteLength"), at + 8,
               fmt::format("level {} spans bytes {} to {}+{} but the file has {} (unexpected end "
                           "of file)",
                           level, e.byte_offset, e.byte_offset, e.byte_length, ctx.view.size()));
    }
  }
  // Smallest level first in the file: offsets fall as the level number rises.
  for (std::uint32_t level = 1; level < count; ++level) {
    if (ctx.file.levels[level].byte_offset >= ctx.file.levels[level - 1].byte_offset) {
      ctx.fail(entry_field(level, "byteOffset"), entry_offset(level),
               fmt::format("level {} is stored at {}, not before level {} at {}: levels go "
                           "smallest first",
                           level, ctx.file.levels[level].byte_offset, level - 1,
                           ctx.file.levels[level - 1].byte_offset));
    }
  }
  const BlockShape shape = block_shape(ctx);
  const bool supercompressed = ctx.file.header.supercompression != 0;
  if (shape.bytes == 0 && !supercompressed) return;  // unknown format: no alignment to check
  const std::uint64_t alignment = supercompressed ? 1 : std::lcm(std::uint64_t{shape.bytes}, 4);
  std::uint64_t expected = align_up(data_start(ctx.file.header), alignment);
  for (std::uint32_t level = count; level-- > 0;) {
    const LevelIndexEntry& e = ctx.file.levels[level];
    if (e.byte_offset % alignment != 0) {
      ctx.fail(entry_field(level, "byteOffset"), entry_offset(level),
               fmt::format("{} is not a multiple of {} (lcm of the texel block size and 4)",
                           e.byte_offset, alignment));
    }
    if (e.byte_offset != expected) {
      ctx.fail(entry_field(level, "byteOffset"), entry_offset(level),
               fmt::format("level {} starts at {} but must start at {}", level, e.byte_offset,
                           expected));
    }
    expected = align_up(e.byte_offset + e.byte_length, alignment);
  }
}

void check_level_lengths(ReadContext& ctx) {
  const Header& h = ctx.file.header;
  const BlockShape shape = block_shape(ctx);
  for (std::uint32_t level = 0; level < ctx.levels(); ++level) {
    const LevelIndexEntry& e = ctx.file.levels[level];
    const std::uint64_t at = entry_offset(level);
    const std::string ubl = entry_field(level, "uncompressedByteLength");
    if (ctx.basis_lz()) {
      if (e.uncompressed_byte_length != 0) {
        ctx.fail(ubl, at + 16,
                 fmt::format("must be 0 for BasisLZ, not {}", e.uncompressed_byte_length));
      }
      continue;
    }
    if (h.supercompression == 0 && e.uncompressed_byte_length != e.byte_length) {
      ctx.fail(ubl, at + 16,
               fmt::format("{} differs from byteLength {} without supercompression",
                           e.uncompressed_byte_length, e.byte_length));
    }
    if (ctx.inflatable() && e.uncompressed_byte_length == 0) {
      ctx.fail(ubl, at + 16, "must not be 0");
    }
    if (shape.bytes == 0 || h.supercompression > 3) continue;
    const std::uint64_t w = (mip_dimension(h.pixel_width, level) + shape.width - 1) / shape.width;
    const std::uint64_t hh = (mip_dimension(ctx.height(), level) + shape.height - 1) / shape.height;
    const std::uint64_t d = (mip_dimension(ctx.depth(), level) + shape.depth - 1) / shape.depth;
    std::uint64_t size = checked_mul(ctx, w, hh, ubl, at + 16);
    size = checked_mul(ctx, size, d, ubl, at + 16);
    size = checked_mul(ctx, size, shape.bytes, ubl, at + 16);
    size = checked_mul(ctx, size, ctx.layers(), ubl, at + 16);
    size = checked_mul(ctx, size, h.face_count, ubl, at + 16);
    if (h.supercompression == 0 && e.byte_length != size) {
      ctx.fail(
          entry_field(level, "byteLength"), at + 8,
          fmt::format("level {} holds {} bytes but {} {}x{}x{} needs {}", level, e.byte_length,
                      payload_name(ctx), mip_dimension(h.pixel_width, level),
                      mip_dimension(ctx.height(), level), mip_dimension(ctx.depth(), level), size));
    }
    if (e.uncompressed_byte_length != size) {
      ctx.fail(ubl, at + 16,
               fmt::format("level {} inflates to {} bytes but needs {}", level,
                           e.uncompressed_byte_length, size));
    }
  }
}

}  // namespace gpumem::ktx2::detail
