// The inner loops of the BC1 and BC4 encoders: loading a block, and the nearest palette entry
// for each of its 16 texels with the block's squared error. Each has a portable scalar version and
// SSE2 and AVX2 versions chosen by simd_level(); all do exact integer-valued arithmetic, so every
// level returns the same indices and error (tests/texture/bc_kernels_test.cpp checks it).
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>

namespace gpumem::detail {

constexpr int kBlockTexelCount = 16;

// A BC1 block's texels ready for fitting: planes of whole-number floats and the live texels'
// sums and products (exact: all whole numbers below 2^24), from which the principal axis comes.
struct Bc1Texels {
  alignas(32) float c[3][kBlockTexelCount];         // r, g, b planes
  alignas(32) std::int32_t live[kBlockTexelCount];  // -1: the error counts it; 0: transparent
  int live_count;
  bool solid;         // every texel has texel 0's RGB (alpha aside)
  float sum[3];       // sums of r, g, b over live texels
  float products[6];  // sums of rr, rg, rb, gg, gb, bb over live texels
};

// Fills `t` from 16 RGBA8 texels in row order; with `alpha_matters`, texels with alpha < 128
// are transparent (not live).
void bc1_load(const std::uint8_t* rgba, bool alpha_matters, Bc1Texels& t);

// BC1: texels as planes of whole-number floats (r, g, b; 16-byte aligned), palette colours as
// whole-number floats. index[i] gets the nearest of the first `entries` colours (ties to the
// lower index); the result is the sum of the squared distances over texels whose live[i] is -1
// (texels with live[i] == 0, transparent ones, count nothing).
int bc1_nearest(const float (&planes)[3][kBlockTexelCount],
                const std::int32_t (&live)[kBlockTexelCount], const float (&palette)[4][3],
                int entries, std::uint8_t (&index)[kBlockTexelCount]);

// BC4 eight-value mode (e0 > e1): index[i] gets the BC4 index of the palette value nearest to
// values[i] (ties to the value nearer e1); returns the sum of squared errors.
int bc4_nearest8(const std::uint8_t (&values)[kBlockTexelCount], int e0, int e1,
                 std::uint8_t (&index)[kBlockTexelCount]);

}  // namespace gpumem::detail
