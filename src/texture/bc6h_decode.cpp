// BC6H block decoding (BPTC float in the Khronos Data Format Specification; Microsoft's "BC6H
// format" page tabulates the same bit layouts).
#include <array>
#include <bit>
#include <cstring>
#include <string_view>

#include "bc7_modes.hpp"
#include "bits.hpp"
#include "bptc_tables.hpp"
#include "gpumem/texture/bc_block.hpp"

namespace gpumem {
namespace {

// Where each stream bit of a mode's header goes. A token "f:a-b" sends the next bits to bits a,
// a+1 ... b (or a, a-1 ... b when a > b: some modes store high bits reversed) of endpoint
// component f, named r0..r3, g0..g3, b0..b3 for the four endpoints w, x, y, z of the format.
struct Bc6hMode {
  std::uint8_t code;  // mode bits as read: 2 bits for modes 1-2, 5 bits otherwise
  std::uint8_t code_bits;
  std::uint8_t endpoint_bits;  // precision of endpoint w
  std::uint8_t delta_bits[3];  // precision of x, y, z per channel
  bool transformed;            // x, y, z are stored as deltas from w
  bool two_subsets;
  std::string_view layout;
};

constexpr std::array<Bc6hMode, 14> kModes = {{
    {0x00,
     2,
     10,
     {5, 5, 5},
     true,
     true,
     "g2:4 b2:4 b3:4 r0:0-9 g0:0-9 b0:0-9 r1:0-4 g3:4 g2:0-3 g1:0-4 b3:0 g3:0-3 b1:0-4 b3:1 "
     "b2:0-3 r2:0-4 b3:2 r3:0-4 b3:3"},
    {0x01,
     2,
     7,
     {6, 6, 6},
     true,
     true,
     "g2:5 g3:4 g3:5 r0:0-6 b3:0 b3:1 b2:4 g0:0-6 b2:5 b3:2 g2:4 b0:0-6 b3:3 b3:5 b3:4 r1:0-5 "
     "g2:0-3 g1:0-5 g3:0-3 b1:0-5 b2:0-3 r2:0-5 r3:0-5"},
    {0x02,
     5,
     11,
     {5, 4, 4},
     true,
     true,
     "r0:0-9 g0:0-9 b0:0-9 r1:0-4 r0:10 g2:0-3 g1:0-3 g0:10 b3:0 g3:0-3 b1:0-3 b0:10 b3:1 "
     "b2:0-3 r2:0-4 b3:2 r3:0-4 b3:3"},
    {0x06,
     5,
     11,
     {4, 5, 4},
     true,
     true,
     "r0:0-9 g0:0-9 b0:0-9 r1:0-3 r0:10 g3:4 g2:0-3 g1:0-4 g0:10 g3:0-3 b1:0-3 b0:10 b3:1 "
     "b2:0-3 r2:0-3 b3:0 b3:2 r3:0-3 g2:4 b3:3"},
    {0x0A,
     5,
     11,
     {4, 4, 5},
     true,
     true,
     "r0:0-9 g0:0-9 b0:0-9 r1:0-3 r0:10 b2:4 g2:0-3 g1:0-3 g0:10 b3:0 g3:0-3 b1:0-4 b0:10 "
     "b2:0-3 r2:0-3 b3:1 b3:2 r3:0-3 b3:4 b3:3"},
    {0x0E,
     5,
     9,
     {5, 5, 5},
     true,
     true,
     "r0:0-8 b2:4 g0:0-8 g2:4 b0:0-8 b3:4 r1:0-4 g3:4 g2:0-3 g1:0-4 b3:0 g3:0-3 b1:0-4 b3:1 "
     "b2:0-3 r2:0-4 b3:2 r3:0-4 b3:3"},
    {0x12,
     5,
     8,
     {6, 5, 5},
     true,
     true,
     "r0:0-7 g3:4 b2:4 g0:0-7 b3:2 g2:4 b0:0-7 b3:3 b3:4 r1:0-5 g2:0-3 g1:0-4 b3:0 g3:0-3 "
     "b1:0-4 b3:1 b2:0-3 r2:0-5 r3:0-5"},
    {0x16,
     5,
     8,
     {5, 6, 5},
     true,
     true,
     "r0:0-7 b3:0 b2:4 g0:0-7 g2:5 g2:4 b0:0-7 g3:5 b3:4 r1:0-4 g3:4 g2:0-3 g1:0-5 g3:0-3 "
     "b1:0-4 b3:1 b2:0-3 r2:0-4 b3:2 r3:0-4 b3:3"},
    {0x1A,
     5,
     8,
     {5, 5, 6},
     true,
     true,
     "r0:0-7 b3:1 b2:4 g0:0-7 b2:5 g2:4 b0:0-7 b3:5 b3:4 r1:0-4 g3:4 g2:0-3 g1:0-4 b3:0 "
     "g3:0-3 b1:0-5 b2:0-3 r2:0-4 b3:2 r3:0-4 b3:3"},
    {0x1E,
     5,
     6,
     {6, 6, 6},
     false,
     true,
     "r0:0-5 g3:4 b3:0 b3:1 b2:4 g0:0-5 g2:5 b2:5 b3:2 g2:4 b0:0-5 g3:5 b3:3 b3:5 b3:4 r1:0-5 "
     "g2:0-3 g1:0-5 g3:0-3 b1:0-5 b2:0-3 r2:0-5 r3:0-5"},
    {0x03, 5, 10, {10, 10, 10}, false, false, "r0:0-9 g0:0-9 b0:0-9 r1:0-9 g1:0-9 b1:0-9"},
    {0x07,
     5,
     11,
     {9, 9, 9},
     true,
     false,
     "r0:0-9 g0:0-9 b0:0-9 r1:0-8 r0:10 g1:0-8 g0:10 b1:0-8 b0:10"},
    {0x0B,
     5,
     12,
     {8, 8, 8},
     true,
     false,
     "r0:0-9 g0:0-9 b0:0-9 r1:0-7 r0:11-10 g1:0-7 g0:11-10 b1:0-7 b0:11-10"},
    {0x0F,
     5,
     16,
     {4, 4, 4},
     true,
     false,
     "r0:0-9 g0:0-9 b0:0-9 r1:0-3 r0:15-10 g1:0-3 g0:15-10 b1:0-3 b0:15-10"},
}};

int parse_number(std::string_view text, std::size_t& pos) {
  int value = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    value = value * 10 + (text[pos] - '0');
    ++pos;
  }
  return value;
}

// Reads a mode's endpoint fields into e[channel][endpoint], following its layout string.
void read_layout(std::string_view layout, detail::BitReader& bits, int (&e)[3][4]) {
  std::size_t pos = 0;
  while (pos < layout.size()) {
    if (layout[pos] == ' ') {
      ++pos;
      continue;
    }
    const int channel = layout[pos] == 'r' ? 0 : layout[pos] == 'g' ? 1 : 2;
    const int endpoint = layout[pos + 1] - '0';
    pos += 3;  // "r0:"
    const int first = parse_number(layout, pos);
    int last = first;
    if (pos < layout.size() && layout[pos] == '-') {
      ++pos;
      last = parse_number(layout, pos);
    }
    const int step = last >= first ? 1 : -1;
    for (int bit = first;; bit += step) {
      e[channel][endpoint] |= static_cast<int>(bits.read(1)) << bit;
      if (bit == last) break;
    }
  }
}

int sign_extend(int value, int bits) {
  const int shift = 32 - bits;
  return static_cast<int>(static_cast<unsigned>(value) << shift) >> shift;
}

int unquantize(int value, int bits, bool is_signed) {
  if (!is_signed) {
    if (bits >= 15 || value == 0) return value;
    if (value == (1 << bits) - 1) return 0xFFFF;
    return ((value << 16) + 0x8000) >> bits;
  }
  if (bits >= 16) return value;
  const bool negative = value < 0;
  int magnitude = negative ? -value : value;
  int result = 0;
  if (magnitude == 0) {
    result = 0;
  } else if (magnitude >= (1 << (bits - 1)) - 1) {
    result = 0x7FFF;
  } else {
    result = ((magnitude << 15) + 0x4000) >> (bits - 1);
  }
  return negative ? -result : result;
}

std::uint16_t finish_unquantize(int value, bool is_signed) {
  if (!is_signed) return static_cast<std::uint16_t>((value * 31) >> 6);
  // Scale the magnitude by 31/32 and store sign and magnitude, as a half does.
  if (value < 0) return static_cast<std::uint16_t>(0x8000 | (((-value) * 31) >> 5));
  return static_cast<std::uint16_t>((value * 31) >> 5);
}

}  // namespace

void decode_bc6h_block_half(const std::uint8_t* block, std::uint16_t* rgb_half, bool is_signed) {
  detail::BitReader bits(block);
  unsigned code = bits.read(2);
  if (code > 1) code |= bits.read(3) << 2;
  const Bc6hMode* mode = nullptr;
  for (const Bc6hMode& m : kModes) {
    if (m.code == code) mode = &m;
  }
  if (mode == nullptr) {  // reserved mode
    std::memset(rgb_half, 0, sizeof(std::uint16_t) * 3 * kBlockTexels);
    return;
  }
  int e[3][4] = {};
  read_layout(mode->layout, bits, e);
  const int partition = mode->two_subsets ? static_cast<int>(bits.read(5)) : 0;
  const int endpoints = mode->two_subsets ? 4 : 2;
  const int precision = mode->endpoint_bits;
  for (int ch = 0; ch < 3; ++ch) {
    if (is_signed) e[ch][0] = sign_extend(e[ch][0], precision);
    if (mode->transformed || is_signed) {
      for (int i = 1; i < endpoints; ++i) e[ch][i] = sign_extend(e[ch][i], mode->delta_bits[ch]);
    }
    if (mode->transformed) {
      for (int i = 1; i < endpoints; ++i) {
        e[ch][i] = (e[ch][i] + e[ch][0]) & ((1 << precision) - 1);
        if (is_signed) e[ch][i] = sign_extend(e[ch][i], precision);
      }
    }
    for (int i = 0; i < endpoints; ++i) e[ch][i] = unquantize(e[ch][i], precision, is_signed);
  }
  const int index_bits = mode->two_subsets ? 3 : 4;
  const int subsets = mode->two_subsets ? 2 : 1;
  const std::uint8_t* weights = detail::bptc_weights(index_bits);
  const std::uint8_t* subset_of = detail::partition_table(subsets, partition);
  for (int i = 0; i < kBlockTexels; ++i) {
    const int n = index_bits - (detail::is_anchor(subsets, partition, i) ? 1 : 0);
    const int weight = weights[bits.read(n)];
    const std::size_t s = subset_of[i];
    for (int ch = 0; ch < 3; ++ch) {
      const int value = detail::bptc_interpolate(e[ch][2 * s], e[ch][2 * s + 1], weight);
      rgb_half[i * 3 + ch] = finish_unquantize(value, is_signed);
    }
  }
}

void decode_bc6h_block(const std::uint8_t* block, float* rgba, bool is_signed) {
  std::uint16_t half[3 * kBlockTexels];
  decode_bc6h_block_half(block, half, is_signed);
  for (int i = 0; i < kBlockTexels; ++i) {
    for (int ch = 0; ch < 3; ++ch) rgba[i * 4 + ch] = half_to_float(half[i * 3 + ch]);
    rgba[i * 4 + 3] = 1.0F;
  }
}

float half_to_float(std::uint16_t half) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000U) << 16;
  const std::uint32_t exponent = (half >> 10) & 0x1FU;
  std::uint32_t mantissa = half & 0x3FFU;
  std::uint32_t bits = 0;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400U) == 0);
      bits = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mantissa & 0x3FFU) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000U | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  return std::bit_cast<float>(bits);
}

}  // namespace gpumem
