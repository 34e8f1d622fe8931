// BC6H blocks built field by field from the mode layouts of the specification, with expected
// half-float results worked out by hand from its integer steps: endpoints unquantised
// ((v << 16) + 0x8000) >> bits (0 and the maximum map to 0 and 0xFFFF), interpolated with the
// 3- or 4-bit weights, then scaled by 31/64 (unsigned) or 31/32 on the magnitude (signed).
#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "block_bits.hpp"
#include "gpumem/texture/bc_block.hpp"

namespace gpumem {
namespace {

using test::BlockBits;

std::array<std::uint16_t, 48> decode(const BlockBits& bits, bool is_signed) {
  EXPECT_EQ(bits.size(), 128);
  const auto block = bits.bytes();
  std::array<std::uint16_t, 48> half{};
  decode_bc6h_block_half(block.data(), half.data(), is_signed);
  return half;
}

// One-subset modes end with 63 index bits: texel 0 has three, the others four.
void put_indices(BlockBits& b, int texel1, int texel2) {
  b.put(0, 3).put(static_cast<std::uint32_t>(texel1), 4).put(static_cast<std::uint32_t>(texel2), 4);
  for (int i = 3; i < 16; ++i) b.put(0, 4);
}

TEST(Bc6hDecode, Mode11UnsignedEndpointsAndWeights) {
  BlockBits b;
  b.put(0x03, 5);                           // mode 11: 10-bit endpoints, no transform
  b.put(0, 10).put(0, 10).put(0, 10);       // w: r g b
  b.put(1023, 10).put(0, 10).put(512, 10);  // x: r g b
  put_indices(b, 15, 8);
  const auto h = decode(b, false);
  EXPECT_EQ(h[0], 0);       // red of texel 0 (index 0)
  EXPECT_EQ(h[3], 0x7BFF);  // red of texel 1: 0xFFFF * 31 >> 6, the largest finite half
  EXPECT_EQ(h[6], 0x41DF);  // red of texel 2: weight 34 gives 34815, scaled 16863
  EXPECT_EQ(h[4], 0);       // green stays 0
  EXPECT_EQ(h[5], 0x3E0F);  // blue of texel 1: 512 unquantises to 0x8020
}

TEST(Bc6hDecode, Mode12AddsSignExtendedDeltaToBase) {
  BlockBits b;
  b.put(0x07, 5);
  b.put(0, 10).put(0, 10).put(0, 10);  // w[9:0]
  b.put(0x1FF, 9).put(1, 1);           // x.r = -1 (9 bits), then w.r bit 10: w.r = 1024
  b.put(0, 9).put(0, 1);
  b.put(0, 9).put(0, 1);
  put_indices(b, 15, 0);
  const auto h = decode(b, false);
  EXPECT_EQ(h[0], 0x3E07);  // 1024 of 11 bits -> 0x8010 -> * 31 >> 6
  EXPECT_EQ(h[3], 0x3DF8);  // 1024 - 1 = 1023 -> 0x7FF0
  EXPECT_EQ(h[1], 0);
}

TEST(Bc6hDecode, Mode14StoresHighBitsReversed) {
  const std::uint32_t w = 0x0C00;  // bits 10 and 11 only
  BlockBits b;
  b.put(0x0F, 5);
  b.put(w & 0x3FF, 10).put(0, 10).put(0, 10);
  b.put(0, 4);
  for (int bit = 15; bit >= 10; --bit) b.bit(w, bit);  // w.r[15:10], highest bit first
  b.put(0, 4).put(0, 6).put(0, 4).put(0, 6);
  put_indices(b, 15, 7);
  const auto h = decode(b, false);
  EXPECT_EQ(h[0], 0x5D0);  // 16-bit endpoints are used as they are: 0x0C00 * 31 >> 6
  EXPECT_EQ(h[3], 0x5D0);
}

TEST(Bc6hDecode, SignedMode11) {
  BlockBits b;
  b.put(0x03, 5);
  b.put(0x200, 10).put(0, 10).put(0, 10);  // w.r = -512
  b.put(100, 10).put(0, 10).put(0, 10);    // x.r = 100
  put_indices(b, 15, 8);
  const auto h = decode(b, true);
  EXPECT_EQ(h[0], 0xFBFF);  // -512 saturates to -0x7FFF, 31/32 of it is -31743
  EXPECT_EQ(h[3], 0x1857);  // 100 -> 0x1920 -> 6231
  EXPECT_EQ(h[6], 0xAD31);  // weight 34 between them, negative
  EXPECT_EQ(h[1], 0);
}

TEST(Bc6hDecode, Mode1TwoSubsetsWithDeltas) {
  BlockBits b;
  b.put(0, 2);                           // mode 1
  b.put(0, 3);                           // g2[4], b2[4], b3[4]
  b.put(100, 10).put(0, 10).put(0, 10);  // w
  b.put(5, 5);                           // x.r delta +5
  b.put(0, 1).put(0, 4).put(0, 5).put(0, 1).put(0, 4).put(0, 5).put(0, 1).put(0, 4);
  b.put(0x1D, 5);  // y.r delta -3
  b.put(0, 1);
  b.put(15, 5);  // z.r delta +15
  b.put(0, 1);
  b.put(0, 5);  // partition 0: columns 2 and 3 are subset 1
  // Indices: texels 0 and 15 (anchors) have two bits, the others three.
  b.put(0, 2).put(7, 3).put(0, 3).put(7, 3);
  for (int i = 4; i < 15; ++i) b.put(0, 3);
  b.put(0, 2);
  const auto h = decode(b, false);
  EXPECT_EQ(h[0], 0xC2B);  // w = 100
  EXPECT_EQ(h[3], 0xCC6);  // x = 105
  EXPECT_EQ(h[6], 0xBCE);  // y = 97 (subset 1, index 0)
  EXPECT_EQ(h[9], 0xDFC);  // z = 115 (subset 1, index 7)
}

TEST(Bc6hDecode, ReservedModeDecodesToZero) {
  BlockBits b;
  b.put(0x13, 5).put(0x7FFFFFF, 27);
  for (int i = 0; i < 3; ++i) b.put(0xFFFFFFFF, 32);
  const auto h = decode(b, false);
  for (std::uint16_t v : h) EXPECT_EQ(v, 0);
}

TEST(Bc6hDecode, HalfToFloat) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0F);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0F);
  EXPECT_EQ(half_to_float(0xC000), -2.0F);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0F, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x0200), std::ldexp(1.0F, -15));
  EXPECT_TRUE(std::isinf(half_to_float(0xFC00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
}

TEST(Bc6hDecode, FloatBlockHasAlphaOne) {
  BlockBits b;
  b.put(0x03, 5).put(0, 30).put(1023, 10).put(1023, 10).put(1023, 10);
  put_indices(b, 15, 0);
  const auto block = b.bytes();
  float rgba[64];
  decode_bc6h_block(block.data(), rgba, false);
  EXPECT_EQ(rgba[4], 65504.0F);
  EXPECT_EQ(rgba[3], 1.0F);
  EXPECT_EQ(rgba[0], 0.0F);
}

}  // namespace
}  // namespace gpumem
