// KHR_texture_basisu's extra rules for KTX2 files used from glTF (`ktx validate
// --gltf-basisu`): BasisLZ/ETC1S or UASTC (none or Zstandard), plain 2D with a multiple-of-4
// extent, one level or a full chain, BT.709 primaries, default swizzle and orientation.
#include <fmt/format.h>

#include <bit>

#include "texture/read_context.hpp"

namespace gpumem::ktx2::detail {
namespace {

void check_shape(const ReadContext& ctx) {
  const Header& h = ctx.file.header;
  const std::uint32_t scheme = h.supercompression;
  const bool uastc = ctx.file.payload == Payload::Uastc;
  if (!(scheme == 1 || (uastc && (scheme == 0 || scheme == 2)))) {
    ctx.fail("supercompressionScheme", kOffsetSupercompression,
             fmt::format("{} is not allowed by KHR_texture_basisu (BasisLZ, or UASTC with none or "
                         "Zstandard)",
                         scheme));
  }
  if (h.layer_count != 0 || h.pixel_depth != 0 || h.face_count != 1 || h.pixel_height == 0) {
    ctx.fail("layerCount", kOffsetLayers,
             "KHR_texture_basisu allows 2D textures only (no arrays, cube maps or 3D)");
  }
  if (h.pixel_width % 4 != 0 || h.pixel_height % 4 != 0) {
    ctx.fail(h.pixel_width % 4 != 0 ? "pixelWidth" : "pixelHeight",
             h.pixel_width % 4 != 0 ? kOffsetWidth : kOffsetHeight,
             fmt::format("{}x{} is not a multiple of 4 (KHR_texture_basisu)", h.pixel_width,
                         h.pixel_height));
  }
  const auto full =
      static_cast<std::uint32_t>(std::bit_width(std::max(h.pixel_width, h.pixel_height)));
  if (h.level_count != 1 && h.level_count != full) {
    ctx.fail("levelCount", kOffsetLevels,
             fmt::format("{} levels: KHR_texture_basisu needs 1 or the full chain of {}",
                         h.level_count, full));
  }
}

void check_dfd_for_gltf(const ReadContext& ctx) {
  const BasicDfd& dfd = ctx.file.dfd;
  const std::uint64_t at = ctx.file.header.dfd_offset + 4;
  if (dfd.color_model != kModelEtc1s && dfd.color_model != kModelUastc) {
    ctx.fail(
        "DFD colorModel", at + 8,
        fmt::format("{}: KHR_texture_basisu needs ETC1S or UASTC", model_name(dfd.color_model)));
  }
  if (dfd.color_model == kModelEtc1s) {
    const bool first_ok = dfd.samples[0].channel == 0 || dfd.samples[0].channel == 3;
    const bool second_ok = dfd.samples.size() < 2 || dfd.samples[1].channel == kChannelAlpha ||
                           dfd.samples[1].channel == 4;
    if (!first_ok || !second_ok) {
      ctx.fail("DFD sample channelType", at + 24,
               "KHR_texture_basisu's ETC1S channels are RGB or RRR, then AAA or GGG");
    }
  }
  if (dfd.primaries != kPrimariesBt709 && dfd.primaries != 0) {
    ctx.fail("DFD colorPrimaries", at + 9,
             fmt::format("{}: KHR_texture_basisu needs BT709 (or unspecified)",
                         primaries_name(dfd.primaries)));
  }
}

void check_keys_for_gltf(const ReadContext& ctx) {
  if (const auto swizzle = ctx.file.text("KTXswizzle"); swizzle && *swizzle != "rgba") {
    ctx.fail("key/value 'KTXswizzle'", ctx.file.header.kvd_offset,
             fmt::format("'{}': KHR_texture_basisu needs 'rgba'", *swizzle));
  }
  if (const auto orientation = ctx.file.text("KTXorientation");
      orientation && *orientation != "rd") {
    ctx.fail("key/value 'KTXorientation'", ctx.file.header.kvd_offset,
             fmt::format("'{}': KHR_texture_basisu needs 'rd'", *orientation));
  }
}

}  // namespace

void check_gltf_basisu(ReadContext& ctx) {
  check_shape(ctx);
  check_dfd_for_gltf(ctx);
  check_keys_for_gltf(ctx);
}

}  // namespace gpumem::ktx2::detail
