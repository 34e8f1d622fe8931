// The inner loops of the BC1 and BC4 encoders: loading a block, and the nearest palette entry
// for each of its 16 texels with the block's squared error. Each has a portable scalar version and
// SSE2 and AVX2 versions chosen by simd_level(); all do exact integer-valued arithmetic, so every
// level returns the same indices and error (tests/texture/bc_kernels_test.cpp checks it).
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>

#include "gpumem/texture/bc_block.hpp"

namespace gpumem::detail {

// A BC1 block's texels ready for fitting: planes of whole-number floats and the live texels'
// sums and products (exact: all whole numbers below 2^24), from which the principal axis comes.
struct Bc1Texels {
  alignas(32) float c[3][kBlockTexels];         // r, g, b planes
  alignas(32) std::int32_t live[kBlockTexels];  // -1: the error counts it; 0: transparent
  int live_count;
  bool solid;         // every texel has texel 0's RGB (alpha aside)
  float sum[3];       // sums of r, g, b over live texels
  float products[6];  // sums of rr, rg, rb, gg, gb, bb over live texels
};

// Fills `t` from 16 RGBA8 texels in row order; with `alpha_matters`, texels with alpha < 128
// are transparent (not live).
void bc1_load(const std::uint8_t* rgba, bool alpha_matters, Bc1Texels& t);

// What a least-squares refit of BC1 endpoints needs for a set of indices: with each used texel's
// weight w of endpoint 0 in steps of 1/d (d = 3 four-colour, 2 three-colour, where index 3 is
// not used), sums of w*x and x per channel, of w and w*w, and the count. All whole numbers.
struct Bc1FitSums {
  float wx[3];
  float x[3];
  float w;
  float ww;
  float count;
};

// BC1: the decoder's palette for 5:6:5 endpoints `e` (four colours, or three plus black with
// `three_colour`); index[i] gets the colour nearest to texel i among the first `entries` (ties to
// the lower index); returns the sum of squared distances over live texels. With `sums`, also
// fills it for a refit of these indices.
int bc1_nearest(const Bc1Texels& t, const int (&e)[2][3], bool three_colour, int entries,
                std::uint8_t (&index)[kBlockTexels], Bc1FitSums* sums);

// The endpoint steps a BC1 walk tries on one channel: each endpoint alone, then both together
// (moving or stretching the segment).
inline constexpr int kBc1ChannelMoves[8][2] = {{-1, 0},  {1, 0}, {0, -1}, {0, 1},
                                               {-1, -1}, {1, 1}, {-1, 1}, {1, -1}};

// errors[m]: bc1_nearest()'s error with channel `ch` (0 r, 1 g, 2 b) of both endpoints stepped
// by kBc1ChannelMoves[m], or INT_MAX where a step leaves the 5- or 6-bit range. The other
// channels' distances are shared by all eight, which is what makes this cheaper than eight calls.
void bc1_channel_moves(const Bc1Texels& t, const int (&e)[2][3], bool three_colour, int entries,
                       int ch, int (&errors)[8]);

// BC4: channel `channel` (0..3) of 16 RGBA8 texels into values[]; returns their minimum and
// maximum as {min, max}.
struct Bc4Range {
  int lo;
  int hi;
};
Bc4Range bc4_load(const std::uint8_t* rgba, int channel, std::uint8_t (&values)[kBlockTexels]);

// BC4 eight-value mode (e0 > e1): index[i] gets the BC4 index of the palette value nearest to
// values[i] (ties to the value nearer e1); returns the sum of squared errors.
int bc4_nearest8(const std::uint8_t (&values)[kBlockTexels], int e0, int e1,
                 std::uint8_t (&index)[kBlockTexels]);

}  // namespace gpumem::detail
