// The RGBA8 fallback's format rules and the checks on what it is given (whole levels are tested
// through load_texture).
#include "gpumem/texture/rgba8_fallback.hpp"

#include <gtest/gtest.h>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

TEST(Rgba8Fallback, FormatsAndSizes) {
  EXPECT_TRUE(can_decode_to_rgba8(TextureFormat::BC1_RGBA_SRGB_BLOCK));
  EXPECT_TRUE(can_decode_to_rgba8(TextureFormat::B8G8R8A8_UNORM));
  EXPECT_FALSE(can_decode_to_rgba8(TextureFormat::BC5_SNORM_BLOCK));
  EXPECT_FALSE(can_decode_to_rgba8(TextureFormat::ASTC_4x4_UNORM_BLOCK));
  EXPECT_EQ(rgba8_format_for(TextureFormat::BC3_SRGB_BLOCK), TextureFormat::R8G8B8A8_SRGB);
  EXPECT_EQ(rgba8_format_for(TextureFormat::BC4_UNORM_BLOCK), TextureFormat::R8G8B8A8_UNORM);
  const std::vector<std::byte> bgra = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
  const std::vector<std::byte> rgba = {std::byte{3}, std::byte{2}, std::byte{1}, std::byte{4}};
  EXPECT_EQ(decode_level_to_rgba8(bgra, TextureFormat::B8G8R8A8_UNORM, 1, 1, 1), rgba);
  EXPECT_THROW((void)decode_level_to_rgba8(bgra, TextureFormat::BC1_RGB_UNORM_BLOCK, 4, 4, 1),
               InvalidArgument);  // 4 bytes are not an 8-byte block
}

}  // namespace
}  // namespace gpumem
