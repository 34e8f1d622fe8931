// BC7 blocks written field by field from the specification's mode table, one per mode, with
// expected texels worked out by hand from its formulas: endpoints widened by bit replication
// (p-bit appended first), texel = (e0 * (64 - w) + e1 * w + 32) >> 6 with the 2-, 3- or 4-bit
// weight table, anchors stored with one bit less, rotation swapping alpha with a colour channel.
#include <gtest/gtest.h>

#include <array>

#include "block_bits.hpp"
#include "gpumem/texture/bc_block.hpp"

namespace gpumem {
namespace {

using test::BlockBits;
using Texel = std::array<int, 4>;

std::array<Texel, 16> decode(const BlockBits& bits) {
  EXPECT_EQ(bits.size(), 128);
  const auto block = bits.bytes();
  std::uint8_t rgba[64];
  decode_bc7_block(block.data(), rgba);
  std::array<Texel, 16> out{};
  for (std::size_t i = 0; i < 16; ++i) {
    for (std::size_t ch = 0; ch < 4; ++ch) out[i][ch] = rgba[i * 4 + ch];
  }
  return out;
}

// Appends the same value for R, G and B of each listed endpoint: R of every endpoint first,
// then G, then B, as BC7 orders them.
void put_grey(BlockBits& b, std::initializer_list<int> endpoints, int bits) {
  for (int ch = 0; ch < 3; ++ch) {
    for (int e : endpoints) b.put(static_cast<std::uint32_t>(e), bits);
  }
}

void put_indices(BlockBits& b, const std::array<int, 16>& index, const std::array<int, 16>& width) {
  for (std::size_t i = 0; i < 16; ++i) b.put(static_cast<std::uint32_t>(index[i]), width[i]);
}

TEST(Bc7Decode, Mode0ThreeSubsetsWithEndpointPbits) {
  BlockBits b;
  b.put(1, 1).put(0,
                  4);  // mode 0, partition 0: subsets {0,1,4,5}, {2,3,6,7,11}, rest; anchors 3, 15
  put_grey(b, {15, 0, 0, 8, 5, 5}, 4);
  b.put(1, 1).put(0, 1).put(1, 1).put(0, 1).put(0, 1).put(1, 1);  // p-bits per endpoint
  std::array<int, 16> index{0, 7, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};
  std::array<int, 16> width{2, 3, 3, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2};
  put_indices(b, index, width);
  const auto t = decode(b);
  EXPECT_EQ(t[0], (Texel{255, 255, 255, 255}));  // 15|1 = 31 of 5 bits
  EXPECT_EQ(t[1], (Texel{0, 0, 0, 255}));
  EXPECT_EQ(t[2], (Texel{8, 8, 8, 255}));      // 0|1 = 1 -> 8
  EXPECT_EQ(t[3], (Texel{60, 60, 60, 255}));   // (8*37 + 132*27 + 32) >> 6
  EXPECT_EQ(t[9], (Texel{82, 82, 82, 255}));   // 5|0 = 10 -> 82
  EXPECT_EQ(t[15], (Texel{85, 85, 85, 255}));  // (82*37 + 90*27 + 32) >> 6
}

TEST(Bc7Decode, Mode1TwoSubsetsWithSharedPbits) {
  BlockBits b;
  b.put(2, 2).put(0, 6);  // mode 1, partition 0: columns 2-3 are subset 1, anchor 15
  put_grey(b, {0, 63, 63, 0}, 6);
  b.put(1, 1).put(1, 1);  // one p-bit per subset
  std::array<int, 16> index{0, 4, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};
  std::array<int, 16> width{2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2};
  put_indices(b, index, width);
  const auto t = decode(b);
  EXPECT_EQ(t[0], (Texel{2, 2, 2, 255}));        // 0|1 = 1 of 7 bits -> 2
  EXPECT_EQ(t[1], (Texel{148, 148, 148, 255}));  // (2*27 + 255*37 + 32) >> 6
  EXPECT_EQ(t[2], (Texel{255, 255, 255, 255}));
  EXPECT_EQ(t[3], (Texel{2, 2, 2, 255}));
  EXPECT_EQ(t[15], (Texel{148, 148, 148, 255}));
}

TEST(Bc7Decode, Mode2ThreeSubsetsTwoBitIndices) {
  BlockBits b;
  b.put(4, 3).put(0, 6);
  put_grey(b, {31, 0, 0, 31, 16, 16}, 5);
  std::array<int, 16> index{0, 2, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0};
  std::array<int, 16> width{1, 2, 2, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1};
  put_indices(b, index, width);
  const auto t = decode(b);
  EXPECT_EQ(t[0], (Texel{255, 255, 255, 255}));
  EXPECT_EQ(t[1], (Texel{84, 84, 84, 255}));  // (255*21 + 32) >> 6
  EXPECT_EQ(t[3], (Texel{84, 84, 84, 255}));  // subset 1 runs 0 -> 255
  EXPECT_EQ(t[9], (Texel{132, 132, 132, 255}));
}

TEST(Bc7Decode, Mode3SevenBitEndpointsWithPbits) {
  BlockBits b;
  b.put(8, 4).put(13, 6);  // partition 13: bottom two rows are subset 1, anchor 15
  put_grey(b, {127, 0, 64, 64}, 7);
  b.put(1, 1).put(0, 1).put(0, 1).put(1, 1);
  std::array<int, 16> index{0, 3, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1};
  std::array<int, 16> width{1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1};
  put_indices(b, index, width);
  const auto t = decode(b);
  EXPECT_EQ(t[0], (Texel{255, 255, 255, 255}));
  EXPECT_EQ(t[1], (Texel{0, 0, 0, 255}));
  EXPECT_EQ(t[2], (Texel{171, 171, 171, 255}));  // (255*43 + 32) >> 6
  EXPECT_EQ(t[8], (Texel{129, 129, 129, 255}));  // (128*21 + 129*43 + 32) >> 6
  EXPECT_EQ(t[15], (Texel{128, 128, 128, 255}));
}

// Mode 4 with rotation 1 (alpha and red swap places) and either index selection.
BlockBits mode4(int index_selection) {
  BlockBits b;
  b.put(16, 5).put(1, 2).put(static_cast<std::uint32_t>(index_selection), 1);
  b.put(31, 5).put(0, 5).put(0, 5).put(0, 5).put(0, 5).put(0, 5);  // R, G, B endpoints
  b.put(0, 6).put(63, 6);                                          // alpha endpoints
  b.put(0, 1).put(1, 2);  // two-bit set: texel 0 (anchor), texel 1
  for (int i = 2; i < 16; ++i) b.put(0, 2);
  b.put(0, 2).put(7, 3);  // three-bit set
  for (int i = 2; i < 16; ++i) b.put(0, 3);
  return b;
}

TEST(Bc7Decode, Mode4RotationAndIndexSelection) {
  auto t = decode(mode4(0));  // colour from the 2-bit set, alpha from the 3-bit set
  EXPECT_EQ(t[0], (Texel{0, 0, 0, 255}));
  EXPECT_EQ(t[1], (Texel{255, 0, 0, 171}));  // red 171 and alpha 255, swapped
  t = decode(mode4(1));                      // colour from the 3-bit set, alpha from the 2-bit set
  EXPECT_EQ(t[1], (Texel{84, 0, 0, 0}));     // alpha (0*43 + 255*21 + 32) >> 6, red 0; swapped
}

TEST(Bc7Decode, Mode5SeparateAlphaIndices) {
  BlockBits b;
  b.put(32, 6).put(0, 2);
  b.put(127, 7).put(0, 7).put(0, 7).put(0, 7).put(0, 7).put(0, 7);
  b.put(10, 8).put(250, 8);
  b.put(0, 1).put(2, 2);
  for (int i = 2; i < 16; ++i) b.put(0, 2);
  b.put(0, 1).put(1, 2);
  for (int i = 2; i < 16; ++i) b.put(0, 2);
  const auto t = decode(b);
  EXPECT_EQ(t[0], (Texel{255, 0, 0, 10}));
  EXPECT_EQ(t[1], (Texel{84, 0, 0, 89}));  // alpha (10*43 + 250*21 + 32) >> 6
}

TEST(Bc7Decode, Mode6FourBitIndicesAndRgbaPbits) {
  BlockBits b;
  b.put(64, 7);
  b.put(127, 7).put(0, 7);    // R
  b.put(0, 7).put(127, 7);    // G
  b.put(64, 7).put(64, 7);    // B
  b.put(127, 7).put(127, 7);  // A
  b.put(1, 1).put(0, 1);
  b.put(0, 3).put(15, 4).put(8, 4);
  for (int i = 3; i < 16; ++i) b.put(0, 4);
  const auto t = decode(b);
  EXPECT_EQ(t[0], (Texel{255, 1, 129, 255}));
  EXPECT_EQ(t[1], (Texel{0, 254, 128, 254}));
  EXPECT_EQ(t[2], (Texel{120, 135, 128, 254}));  // weight 34 of 64
}

TEST(Bc7Decode, Mode7TwoSubsetRgba) {
  BlockBits b;
  b.put(128, 8).put(1, 6);  // partition 1: column 3 is subset 1, anchor 15
  for (int ch = 0; ch < 4; ++ch) b.put(31, 5).put(0, 5).put(0, 5).put(16, 5);
  b.put(1, 1).put(0, 1).put(1, 1).put(0, 1);
  std::array<int, 16> index{0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::array<int, 16> width{1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1};
  put_indices(b, index, width);
  const auto t = decode(b);
  EXPECT_EQ(t[0], (Texel{255, 255, 255, 255}));
  EXPECT_EQ(t[3], (Texel{130, 130, 130, 130}));
  EXPECT_EQ(t[15], (Texel{45, 45, 45, 45}));  // (4*43 + 130*21 + 32) >> 6
}

TEST(Bc7Decode, ReservedModeIsTransparentBlack) {
  const std::uint8_t block[16] = {};
  std::uint8_t rgba[64];
  std::fill(std::begin(rgba), std::end(rgba), std::uint8_t{7});
  decode_bc7_block(block, rgba);
  for (std::uint8_t v : rgba) EXPECT_EQ(v, 0);
}

}  // namespace
}  // namespace gpumem
