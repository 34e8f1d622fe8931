// Mip chains for RGBA8 images: each level half the size of the one above (rounded down, at least
// 1), down to 1x1, filtered with a box or a Kaiser-windowed sinc. Odd sizes are handled exactly:
// every destination texel covers src/dst source texels (2.5 for 5 -> 2), so no source column is
// dropped or counted twice. sRGB images are filtered in linear light (decoded, filtered, encoded
// again) so a level keeps the brightness of the one above; alpha is always filtered as stored.
// Levels are filtered from the previous level's float texels, never from a rounded copy.
//
//   std::vector<gpumem::Image> chain = gpumem::generate_mip_chain(
//       img.view(), gpumem::MipFilter::Kaiser, gpumem::ColorSpace::Srgb);
//   // chain[0] is a copy of img, chain.back() is 1x1.
//
// Errors: InvalidArgument for an invalid view or more levels than the extent allows. Pure
// functions: safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "gpumem/texture/image.hpp"

namespace gpumem {

enum class MipFilter : std::uint8_t {
  Box,     // area average: cheap, a little soft
  Kaiser,  // Kaiser-windowed sinc (width 3, alpha 4): sharper, as nvtt and ktx-software use
};

// How the colour channels' bytes encode light: Srgb for sRGB formats and photographs.
enum class ColorSpace : std::uint8_t { Linear, Srgb };

std::string_view to_string(MipFilter filter) noexcept;
// "box" or "kaiser", any case; empty otherwise.
std::optional<MipFilter> parse_mip_filter(std::string_view name);

// `levels` levels starting with a copy of `base`; 0 means the full chain (full_mip_count).
std::vector<Image> generate_mip_chain(const ImageView& base, MipFilter filter, ColorSpace space,
                                      std::uint32_t levels = 0);

// The sRGB transfer function (IEC 61966-2-1) on values in [0, 1].
float srgb_to_linear(float encoded) noexcept;
float linear_to_srgb(float linear) noexcept;

}  // namespace gpumem
