// BC1-BC5 block decoding (S3TC and RGTC in the Khronos Data Format Specification).
#include <cstring>

#include "gpumem/texture/bc_block.hpp"

namespace gpumem {
namespace {

// 565 to 888 by bit replication, as the specification extends each channel.
void expand565(unsigned c, int* rgb) {
  const unsigned r = (c >> 11) & 31U, g = (c >> 5) & 63U, b = c & 31U;
  rgb[0] = static_cast<int>((r << 3) | (r >> 2));
  rgb[1] = static_cast<int>((g << 2) | (g >> 4));
  rgb[2] = static_cast<int>((b << 3) | (b >> 2));
}

void decode_colour(const std::uint8_t* block, std::uint8_t* rgba, bool four_colour_only,
                   bool transparent_black) {
  const unsigned c0 = block[0] | (unsigned{block[1]} << 8U);
  const unsigned c1 = block[2] | (unsigned{block[3]} << 8U);
  int palette[4][4];
  expand565(c0, palette[0]);
  expand565(c1, palette[1]);
  palette[0][3] = palette[1][3] = palette[2][3] = palette[3][3] = 255;
  if (c0 > c1 || four_colour_only) {
    for (int ch = 0; ch < 3; ++ch) {
      palette[2][ch] = (2 * palette[0][ch] + palette[1][ch] + 1) / 3;
      palette[3][ch] = (palette[0][ch] + 2 * palette[1][ch] + 1) / 3;
    }
  } else {
    for (int ch = 0; ch < 3; ++ch) {
      palette[2][ch] = (palette[0][ch] + palette[1][ch] + 1) / 2;
      palette[3][ch] = 0;
    }
    palette[3][3] = transparent_black ? 0 : 255;
  }
  const std::uint32_t indices = std::uint32_t{block[4]} | (std::uint32_t{block[5]} << 8U) |
                                (std::uint32_t{block[6]} << 16U) | (std::uint32_t{block[7]} << 24U);
  for (int i = 0; i < kBlockTexels; ++i) {
    const int* p = palette[(indices >> (2 * i)) & 3U];
    for (int ch = 0; ch < 4; ++ch) rgba[i * 4 + ch] = static_cast<std::uint8_t>(p[ch]);
  }
}

}  // namespace

void decode_bc1_block(const std::uint8_t* block, std::uint8_t* rgba, bool transparent_black) {
  decode_colour(block, rgba, false, transparent_black);
}

void decode_bc2_block(const std::uint8_t* block, std::uint8_t* rgba) {
  decode_colour(block + 8, rgba, true, false);
  for (int i = 0; i < kBlockTexels; ++i) {
    const unsigned nibble = static_cast<unsigned>(block[i / 2] >> (4 * (i % 2))) & 15U;
    rgba[i * 4 + 3] = static_cast<std::uint8_t>(nibble * 17);
  }
}

void decode_bc3_block(const std::uint8_t* block, std::uint8_t* rgba) {
  decode_colour(block + 8, rgba, true, false);
  decode_bc4_channel(block, rgba + 3, 4, false);
}

void decode_bc4_channel(const std::uint8_t* block, std::uint8_t* out, int stride, bool is_signed) {
  int v[8];
  int e0 = block[0], e1 = block[1];
  if (is_signed) {
    // -128 is an alias of -127 in RGTC signed formats.
    e0 = static_cast<std::int8_t>(block[0]) == -128 ? -127 : static_cast<std::int8_t>(block[0]);
    e1 = static_cast<std::int8_t>(block[1]) == -128 ? -127 : static_cast<std::int8_t>(block[1]);
  }
  v[0] = e0;
  v[1] = e1;
  // Exact fractions rounded to nearest, half away from zero (symmetric for signed values).
  auto lerp = [](int a, int b, int wa, int wb, int d) {
    const int num = wa * a + wb * b;
    return num >= 0 ? (num + d / 2) / d : -((-num + d / 2) / d);
  };
  if (e0 > e1) {
    for (int i = 1; i <= 6; ++i) v[i + 1] = lerp(e0, e1, 7 - i, i, 7);
  } else {
    for (int i = 1; i <= 4; ++i) v[i + 1] = lerp(e0, e1, 5 - i, i, 5);
    v[6] = is_signed ? -127 : 0;
    v[7] = is_signed ? 127 : 255;
  }
  std::uint64_t bits = 0;
  std::memcpy(&bits, block, 8);
  bits >>= 16U;
  for (int i = 0; i < kBlockTexels; ++i) {
    out[static_cast<std::ptrdiff_t>(i) * stride] =
        static_cast<std::uint8_t>(v[(bits >> (3 * i)) & 7U] & 0xFF);
  }
}

void decode_bc4_block(const std::uint8_t* block, std::uint8_t* rgba, bool is_signed) {
  for (int i = 0; i < kBlockTexels; ++i) {
    rgba[i * 4 + 1] = rgba[i * 4 + 2] = 0;
    rgba[i * 4 + 3] = 255;
  }
  decode_bc4_channel(block, rgba, 4, is_signed);
}

void decode_bc5_block(const std::uint8_t* block, std::uint8_t* rgba, bool is_signed) {
  for (int i = 0; i < kBlockTexels; ++i) {
    rgba[i * 4 + 2] = 0;
    rgba[i * 4 + 3] = 255;
  }
  decode_bc4_channel(block, rgba, 4, is_signed);
  decode_bc4_channel(block + 8, rgba + 1, 4, is_signed);
}

}  // namespace gpumem
