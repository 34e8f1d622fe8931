// Section 6 of the reader's checks: BasisLZ's supercompression global data. A 20-byte header
// (codebook sizes), one 20-byte description per image (every face, layer and depth slice of every
// level), then the codebooks; each image's slices must lie inside its level and agree with the
// DFD about alpha.
#include <fmt/format.h>

#include "texture/read_context.hpp"

namespace gpumem::ktx2::detail {
namespace {

constexpr std::uint64_t kGlobalHeaderBytes = 20;
constexpr std::uint64_t kImageDescBytes = 20;
constexpr std::uint32_t kPFrameFlag = 0x02;

std::uint64_t image_count(const ReadContext& ctx) {
  std::uint64_t images = 0;
  for (std::uint32_t level = 0; level < ctx.levels(); ++level) {
    images += std::uint64_t{ctx.layers()} * ctx.file.header.face_count *
              mip_dimension(ctx.depth(), level);
  }
  return images;
}

void check_slice(const ReadContext& ctx, std::uint64_t at, std::uint64_t image, std::uint32_t level,
                 std::string_view slice, std::uint32_t offset, std::uint32_t length) {
  const std::uint64_t level_length = ctx.file.levels[level].byte_length;
  if (std::uint64_t{offset} + length > level_length) {
    ctx.fail(fmt::format("imageDescs[{}].{}SliceByteOffset", image, slice), at,
             fmt::format("the {} slice spans bytes {}..{} of level {}, which has {}", slice, offset,
                         std::uint64_t{offset} + length, level, level_length));
  }
}

}  // namespace

void check_global_data(ReadContext& ctx) {
  const Header& h = ctx.file.header;
  ctx.file.supercompression_global_data.clear();
  if (h.sgd_length != 0 && h.supercompression <= 3) {
    const auto sgd = ctx.view.slice(h.sgd_offset, h.sgd_length, "supercompression global data");
    ctx.file.supercompression_global_data.assign(sgd.begin(), sgd.end());
  }
  if (!ctx.basis_lz()) return;
  const std::uint64_t base = h.sgd_offset;
  if (h.sgd_length < kGlobalHeaderBytes) {
    ctx.fail("sgdByteLength", kOffsetSgdLength,
             fmt::format("{} bytes, fewer than BasisLZ's 20-byte global header", h.sgd_length));
  }
  const std::uint64_t endpoints = ctx.view.u32(base + 4, "endpointsByteLength");
  const std::uint64_t selectors = ctx.view.u32(base + 8, "selectorsByteLength");
  const std::uint64_t tables = ctx.view.u32(base + 12, "tablesByteLength");
  const std::uint64_t extended = ctx.view.u32(base + 16, "extendedByteLength");
  const std::uint64_t images = image_count(ctx);
  const std::uint64_t expected =
      kGlobalHeaderBytes + kImageDescBytes * images + endpoints + selectors + tables + extended;
  if (h.sgd_length != expected) {
    ctx.fail("sgdByteLength", kOffsetSgdLength,
             fmt::format("{} but the header, {} image descriptions and the codebooks take {}",
                         h.sgd_length, images, expected));
  }
  if (extended != 0) ctx.fail("extendedByteLength", base + 16, "must be 0");
  const bool has_alpha = ctx.file.dfd.samples.size() == 2;
  const bool animated = ctx.file.find("KTXanimData") != nullptr;
  std::uint64_t image = 0;
  for (std::uint32_t level = 0; level < ctx.levels(); ++level) {
    const std::uint64_t per_level = std::uint64_t{ctx.layers()} * ctx.file.header.face_count *
                                    mip_dimension(ctx.depth(), level);
    for (std::uint64_t i = 0; i < per_level; ++i, ++image) {
      const std::uint64_t at = base + kGlobalHeaderBytes + kImageDescBytes * image;
      const std::uint32_t flags = ctx.view.u32(at, "imageFlags");
      const std::uint32_t rgb_offset = ctx.view.u32(at + 4, "rgbSliceByteOffset");
      const std::uint32_t rgb_length = ctx.view.u32(at + 8, "rgbSliceByteLength");
      const std::uint32_t alpha_offset = ctx.view.u32(at + 12, "alphaSliceByteOffset");
      const std::uint32_t alpha_length = ctx.view.u32(at + 16, "alphaSliceByteLength");
      const std::string field = fmt::format("imageDescs[{}]", image);
      if ((flags & ~kPFrameFlag) != 0) {
        ctx.fail(field + ".imageFlags", at, fmt::format("unknown flag bits 0x{:X}", flags));
      }
      if ((flags & kPFrameFlag) != 0 && !animated) {
        ctx.fail(field + ".imageFlags", at, "a P-frame outside an animation (no KTXanimData)");
      }
      if (rgb_length == 0) ctx.fail(field + ".rgbSliceByteLength", at + 8, "must not be 0");
      check_slice(ctx, at + 4, image, level, "rgb", rgb_offset, rgb_length);
      check_slice(ctx, at + 12, image, level, "alpha", alpha_offset, alpha_length);
      if (!has_alpha && alpha_length != 0) {
        ctx.fail(field + ".alphaSliceByteLength", at + 16,
                 "the DFD has no alpha sample but the image has an alpha slice");
      }
      if (has_alpha && alpha_length == 0) {
        ctx.fail(field + ".alphaSliceByteLength", at + 16,
                 "the DFD has an alpha sample but the image has no alpha slice");
      }
    }
  }
}

}  // namespace gpumem::ktx2::detail
