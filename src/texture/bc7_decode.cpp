// BC7 block decoding (BPTC in the Khronos Data Format Specification).
#include <algorithm>
#include <cstring>

#include "bc7_modes.hpp"
#include "bits.hpp"
#include "bptc_tables.hpp"
#include "gpumem/texture/bc_block.hpp"

namespace gpumem {

void decode_bc7_block(const std::uint8_t* block, std::uint8_t* rgba) {
  using namespace detail;
  int mode_number = 0;
  while (mode_number < 8 && (block[0] & (1U << mode_number)) == 0) ++mode_number;
  if (mode_number == 8) {
    std::memset(rgba, 0, std::size_t{kBlockTexels} * 4);
    return;
  }
  const Bc7Mode& mode = kBc7Modes[mode_number];
  BitReader bits(block);
  bits.read(mode_number + 1);
  const int partition = static_cast<int>(bits.read(mode.partition_bits));
  const int rotation = static_cast<int>(bits.read(mode.rotation_bits));
  const int index_selection = static_cast<int>(bits.read(mode.index_selection_bits));

  int endpoints[3][2][4] = {};  // [subset][endpoint][channel]
  const int subsets = mode.subsets;
  for (int ch = 0; ch < 3; ++ch) {
    for (int s = 0; s < subsets; ++s) {
      for (int e = 0; e < 2; ++e)
        endpoints[s][e][ch] = static_cast<int>(bits.read(mode.colour_bits));
    }
  }
  for (int s = 0; s < subsets; ++s) {
    for (int e = 0; e < 2; ++e) {
      endpoints[s][e][3] = mode.alpha_bits ? static_cast<int>(bits.read(mode.alpha_bits)) : 255;
    }
  }
  int colour_bits = mode.colour_bits;
  int alpha_bits = mode.alpha_bits;
  if (mode.endpoint_pbits || mode.shared_pbits) {
    int pbit[3][2] = {};
    for (int s = 0; s < subsets; ++s) {
      if (mode.endpoint_pbits) {
        pbit[s][0] = static_cast<int>(bits.read(1));
        pbit[s][1] = static_cast<int>(bits.read(1));
      } else {
        pbit[s][0] = pbit[s][1] = static_cast<int>(bits.read(1));
      }
    }
    for (int s = 0; s < subsets; ++s) {
      for (int e = 0; e < 2; ++e) {
        for (int ch = 0; ch < (alpha_bits ? 4 : 3); ++ch) {
          endpoints[s][e][ch] = (endpoints[s][e][ch] << 1) | pbit[s][e];
        }
      }
    }
    ++colour_bits;
    if (alpha_bits) ++alpha_bits;
  }
  for (int s = 0; s < subsets; ++s) {
    for (int e = 0; e < 2; ++e) {
      for (int ch = 0; ch < 3; ++ch) {
        endpoints[s][e][ch] = bc7_unquantize(endpoints[s][e][ch], colour_bits);
      }
      if (alpha_bits) endpoints[s][e][3] = bc7_unquantize(endpoints[s][e][3], alpha_bits);
    }
  }

  int index[16];
  int index2[16] = {};
  for (int i = 0; i < kBlockTexels; ++i) {
    const int n = mode.index_bits - (is_anchor(subsets, partition, i) ? 1 : 0);
    index[i] = static_cast<int>(bits.read(n));
  }
  if (mode.index2_bits) {
    for (int i = 0; i < kBlockTexels; ++i) {
      index2[i] = static_cast<int>(bits.read(mode.index2_bits - (i == 0 ? 1 : 0)));
    }
  }

  const std::uint8_t* subset_of = partition_table(subsets, partition);
  const std::uint8_t* colour_weights = bptc_weights(mode.index_bits);
  const std::uint8_t* alpha_weights = colour_weights;
  const int* colour_index = index;
  const int* alpha_index = index;
  if (mode.index2_bits) {
    // Modes 4 and 5: the selection bit says which index set drives colour and which alpha.
    if (index_selection) {
      colour_index = index2;
      colour_weights = bptc_weights(mode.index2_bits);
    } else {
      alpha_index = index2;
      alpha_weights = bptc_weights(mode.index2_bits);
    }
  }
  for (int i = 0; i < kBlockTexels; ++i) {
    const int(*ep)[4] = endpoints[subset_of[i]];
    int texel[4];
    for (int ch = 0; ch < 3; ++ch) {
      texel[ch] = bptc_interpolate(ep[0][ch], ep[1][ch], colour_weights[colour_index[i]]);
    }
    texel[3] = bptc_interpolate(ep[0][3], ep[1][3], alpha_weights[alpha_index[i]]);
    if (rotation) std::swap(texel[3], texel[rotation - 1]);
    for (int ch = 0; ch < 4; ++ch) rgba[i * 4 + ch] = static_cast<std::uint8_t>(texel[ch]);
  }
}

}  // namespace gpumem
