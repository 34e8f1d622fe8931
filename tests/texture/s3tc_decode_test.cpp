// BC1-BC5 blocks with expected texels from the specification's formulas: 565 endpoints widened
// by bit replication, the 1/3 and 2/3 (or 1/2) palette entries and the BC4 sevenths and fifths,
// each the exact fraction rounded to nearest.
#include <gtest/gtest.h>

#include <array>

#include "gpumem/texture/bc_block.hpp"

namespace gpumem {
namespace {

using Texel = std::array<int, 4>;

Texel texel(const std::uint8_t* rgba, std::size_t i) {
  return {rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2], rgba[i * 4 + 3]};
}

TEST(Bc1Decode, FourColourBlock) {
  // c0 = pure red (0xF800) > c1 = pure blue (0x001F); texels 0-3 take indices 0, 1, 2, 3.
  const std::uint8_t block[8] = {0x00, 0xF8, 0x1F, 0x00, 0b11100100, 0, 0, 0};
  std::uint8_t rgba[64];
  decode_bc1_block(block, rgba, true);
  EXPECT_EQ(texel(rgba, 0), (Texel{255, 0, 0, 255}));
  EXPECT_EQ(texel(rgba, 1), (Texel{0, 0, 255, 255}));
  EXPECT_EQ(texel(rgba, 2), (Texel{170, 0, 85, 255}));  // (2*255 + 0 + 1) / 3 = 170
  EXPECT_EQ(texel(rgba, 3), (Texel{85, 0, 170, 255}));
  EXPECT_EQ(texel(rgba, 4), (Texel{255, 0, 0, 255}));  // index 0
}

TEST(Bc1Decode, ThreeColourBlockWithTransparentOrBlackIndex3) {
  // c0 = blue (0x001F) <= c1 = red (0xF800): index 2 is the half-way colour, index 3 black.
  const std::uint8_t block[8] = {0x1F, 0x00, 0x00, 0xF8, 0b11100100, 0, 0, 0};
  std::uint8_t rgba[64];
  decode_bc1_block(block, rgba, true);
  EXPECT_EQ(texel(rgba, 2), (Texel{128, 0, 128, 255}));  // (255 + 0 + 1) / 2
  EXPECT_EQ(texel(rgba, 3), (Texel{0, 0, 0, 0}));        // BC1_RGBA: transparent black
  decode_bc1_block(block, rgba, false);
  EXPECT_EQ(texel(rgba, 3), (Texel{0, 0, 0, 255}));  // BC1_RGB: opaque black
}

TEST(Bc1Decode, EqualEndpointsReadAsThreeColour) {
  const std::uint8_t block[8] = {0xE0, 0x07, 0xE0, 0x07, 0b11000000, 0, 0, 0};  // green
  std::uint8_t rgba[64];
  decode_bc1_block(block, rgba, true);
  EXPECT_EQ(texel(rgba, 0), (Texel{0, 255, 0, 255}));
  EXPECT_EQ(texel(rgba, 3), (Texel{0, 0, 0, 0}));
}

TEST(Bc2Decode, ExplicitAlphaAndAlwaysFourColours) {
  std::uint8_t block[16] = {0x10, 0xF2};  // alpha nibbles: texel 0 = 0, 1 = 1, 2 = 2, 3 = 15
  // Colour with c0 < c1 still decodes four colours in BC2.
  const std::uint8_t colour[8] = {0x1F, 0x00, 0x00, 0xF8, 0b11100100, 0, 0, 0};
  std::copy(colour, colour + 8, block + 8);
  std::uint8_t rgba[64];
  decode_bc2_block(block, rgba);
  EXPECT_EQ(texel(rgba, 0), (Texel{0, 0, 255, 0}));
  EXPECT_EQ(texel(rgba, 1), (Texel{255, 0, 0, 17}));
  EXPECT_EQ(texel(rgba, 2), (Texel{85, 0, 170, 34}));  // 2/3 blue + 1/3 red
  EXPECT_EQ(texel(rgba, 3), (Texel{170, 0, 85, 255}));
}

// A BC4 block with the given endpoints and texels 0-7 on indices 0-7.
std::array<std::uint8_t, 8> bc4_block(std::uint8_t e0, std::uint8_t e1) {
  // Indices 0..7 in 3-bit fields: 0b111'110'101'100'011'010'001'000 = 0xFAC688.
  return {e0, e1, 0x88, 0xC6, 0xFA, 0, 0, 0};
}

TEST(Bc4Decode, EightValueMode) {
  const auto block = bc4_block(200, 100);
  std::uint8_t r[16];
  decode_bc4_channel(block.data(), r, 1, false);
  const int expected[8] = {200, 100, 186, 171, 157, 143, 129, 114};  // (k*200 + (7-k)*100 + 3)/7
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r[i], expected[i]) << "index " << i;
  EXPECT_EQ(r[8], 200);
}

TEST(Bc4Decode, SixValueModeHasZeroAndFull) {
  const auto block = bc4_block(100, 200);
  std::uint8_t r[16];
  decode_bc4_channel(block.data(), r, 1, false);
  const int expected[8] = {100, 200, 120, 140, 160, 180, 0, 255};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(r[i], expected[i]) << "index " << i;
}

TEST(Bc4Decode, SignedValuesAndMinus128) {
  // e0 = 0x80 (-128, read as -127) <= e1 = 0x7F (127): six-value mode, -127 and 127 at 6 and 7.
  const auto block = bc4_block(0x80, 0x7F);
  std::uint8_t r[16];
  decode_bc4_channel(block.data(), r, 1, true);
  const int expected[8] = {-127, 127, -76, -25, 25, 76, -127, 127};  // (4*-127 + 127)/5 = -76.2
  for (int i = 0; i < 8; ++i) EXPECT_EQ(static_cast<std::int8_t>(r[i]), expected[i]) << i;
  // Eight-value signed: e0 = 10 > e1 = -4.
  const auto eight = bc4_block(10, 0xFC);
  decode_bc4_channel(eight.data(), r, 1, true);
  EXPECT_EQ(static_cast<std::int8_t>(r[2]), 8);   // (6*10 - 4) / 7 = 8
  EXPECT_EQ(static_cast<std::int8_t>(r[7]), -2);  // (10 - 24) / 7 = -2
}

TEST(Bc3Bc5Decode, ChannelsLandWhereTheyBelong) {
  std::uint8_t block[16];
  const auto a = bc4_block(200, 100);
  std::copy(a.begin(), a.end(), block);
  const std::uint8_t colour[8] = {0x00, 0xF8, 0x1F, 0x00, 0, 0, 0, 0};  // all texels red
  std::copy(colour, colour + 8, block + 8);
  std::uint8_t rgba[64];
  decode_bc3_block(block, rgba);
  EXPECT_EQ(texel(rgba, 2), (Texel{255, 0, 0, 186}));

  const auto g = bc4_block(100, 200);
  std::copy(g.begin(), g.end(), block + 8);
  decode_bc5_block(block, rgba, false);
  EXPECT_EQ(texel(rgba, 2), (Texel{186, 120, 0, 255}));
  decode_bc4_block(block, rgba, false);
  EXPECT_EQ(texel(rgba, 7), (Texel{114, 0, 0, 255}));
}

}  // namespace
}  // namespace gpumem
