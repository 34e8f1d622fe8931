// The eight BC7 modes as the specification tabulates them; shared by the decoder and encoder.
#pragma once

#include <cstdint>

namespace gpumem::detail {

struct Bc7Mode {
  std::uint8_t subsets;
  std::uint8_t partition_bits;
  std::uint8_t rotation_bits;
  std::uint8_t index_selection_bits;
  std::uint8_t colour_bits;     // per channel, without the p-bit
  std::uint8_t alpha_bits;      // 0: no alpha endpoints (alpha is 255)
  std::uint8_t endpoint_pbits;  // one p-bit per endpoint
  std::uint8_t shared_pbits;    // one p-bit per subset, shared by its two endpoints
  std::uint8_t index_bits;
  std::uint8_t index2_bits;  // second index set (modes 4 and 5)
};

inline constexpr Bc7Mode kBc7Modes[8] = {
    {3, 4, 0, 0, 4, 0, 1, 0, 3, 0}, {2, 6, 0, 0, 6, 0, 0, 1, 3, 0}, {3, 6, 0, 0, 5, 0, 0, 0, 2, 0},
    {2, 6, 0, 0, 7, 0, 1, 0, 2, 0}, {1, 0, 2, 1, 5, 6, 0, 0, 2, 3}, {1, 0, 2, 0, 7, 8, 0, 0, 2, 2},
    {1, 0, 0, 0, 7, 7, 1, 0, 4, 0}, {2, 6, 0, 0, 5, 5, 1, 0, 2, 0},
};

// An n-bit endpoint value (p-bit included) widened to 8 bits by replicating its top bits.
inline int bc7_unquantize(int value, int bits) {
  return bits >= 8 ? value : (value << (8 - bits)) | (value >> (2 * bits - 8));
}

inline int bptc_interpolate(int e0, int e1, int weight) {
  return (e0 * (64 - weight) + e1 * weight + 32) >> 6;
}

}  // namespace gpumem::detail
