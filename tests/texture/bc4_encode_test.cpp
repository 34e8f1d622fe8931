// BC4 encoder, block by block: every texel must get the palette entry nearest to it (so no index
// is out of range or spills into its neighbour's bits) and no block may end up worse than the
// plain start the encoder refines from (its endpoints the block's max and min). Blocks with a
// tight cluster and outliers beyond it are the ones whose refit endpoints leave texels outside
// [e1, e0], where the arithmetic index search must clamp; uniform noise, which the existing
// round-trip test uses, rarely produces them.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <vector>

#include "gpumem/texture/bc_codec.hpp"

namespace gpumem {
namespace {

constexpr std::uint32_t kBlocksAcross = 64;
constexpr std::uint32_t kBlocksDown = 32;

// Deterministic blocks of four kinds: a cluster with outliers on both sides, a cluster with
// outliers on one side, noise, and a narrow range (a palette step of about one level, so an
// endpoint walked by one or two levels leaves texels several steps outside it).
Image test_blocks() {
  Image img(kBlocksAcross * 4, kBlocksDown * 4);
  std::uint32_t state = 2024;
  const auto next = [&state](std::uint32_t range) {
    state = state * 1664525U + 1013904223U;
    return (state >> 8) % range;
  };
  for (std::uint32_t by = 0; by < kBlocksDown; ++by) {
    for (std::uint32_t bx = 0; bx < kBlocksAcross; ++bx) {
      const std::uint32_t kind = (by * kBlocksAcross + bx) % 4;
      const std::uint32_t centre = 20 + next(216);
      const std::uint32_t spread = 1 + next(12);
      for (std::uint32_t t = 0; t < 16; ++t) {
        std::uint32_t v = 0;
        if (kind == 2) {
          v = next(256);
        } else if (kind == 3) {
          v = t == 0 ? centre : t == 15 ? centre + spread : centre + next(spread + 1);
        } else if (t == 5) {
          v = next(centre / 2 + 1);  // an outlier below the cluster
        } else if (t == 10 && kind == 0) {
          v = 255 - next((255 - centre) / 2 + 1);  // and one above
        } else {
          v = std::min<std::uint32_t>(255,
                                      centre - std::min(centre, spread) + next(2 * spread + 1));
        }
        std::uint8_t* p = img.pixel(bx * 4 + t % 4, by * 4 + t / 4);
        p[0] = static_cast<std::uint8_t>(v);
        p[1] = p[2] = 0;
        p[3] = 255;
      }
    }
  }
  return img;
}

// The eight values a block with these endpoints decodes to, from the project's decoder.
std::array<int, 8> palette(std::uint8_t e0, std::uint8_t e1) {
  std::array<int, 8> values{};
  for (std::uint64_t k = 0; k < 8; ++k) {
    std::array<std::uint8_t, 8> block{e0, e1};
    std::uint64_t bits = 0;
    for (int i = 0; i < 16; ++i) bits |= k << (3 * i);
    for (std::size_t b = 0; b < 6; ++b) block[2 + b] = static_cast<std::uint8_t>(bits >> (8 * b));
    values[k] = decode_bc(block, 4, 4, TextureFormat::BC4_UNORM_BLOCK).pixel(0, 0)[0];
  }
  return values;
}

int nearest_error(int v, const std::array<int, 8>& pal) {
  int best = INT_MAX;
  for (const int p : pal) best = std::min(best, (v - p) * (v - p));
  return best;
}

class Bc4Blocks : public testing::TestWithParam<EncodeQuality> {};

TEST_P(Bc4Blocks, EveryTexelGetsItsNearestValueAndNoBlockLosesToItsStart) {
  const Image img = test_blocks();
  const auto blocks =
      encode_bc(img.view(), TextureFormat::BC4_UNORM_BLOCK, {.quality = GetParam(), .threads = 1});
  const Image back = decode_bc(blocks, img.width(), img.height(), TextureFormat::BC4_UNORM_BLOCK);
  int misplaced = 0, worse = 0;
  for (std::uint32_t b = 0; b < kBlocksAcross * kBlocksDown; ++b) {
    const std::uint32_t bx = b % kBlocksAcross, by = b / kBlocksAcross;
    const std::array<int, 8> pal =
        palette(blocks[std::size_t{b} * 8], blocks[std::size_t{b} * 8 + 1]);
    int lo = 255, hi = 0, error = 0, start_error = 0;
    for (std::uint32_t t = 0; t < 16; ++t) {
      const int v = img.pixel(bx * 4 + t % 4, by * 4 + t / 4)[0];
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    const auto start = palette(static_cast<std::uint8_t>(hi), static_cast<std::uint8_t>(lo));
    for (std::uint32_t t = 0; t < 16; ++t) {
      const int v = img.pixel(bx * 4 + t % 4, by * 4 + t / 4)[0];
      const int d = v - back.pixel(bx * 4 + t % 4, by * 4 + t / 4)[0];
      error += d * d;
      start_error += nearest_error(v, start);
      if (d * d != nearest_error(v, pal)) {
        if (++misplaced <= 3) ADD_FAILURE() << "block " << b << " texel " << t << " value " << v;
      }
    }
    if (error > start_error && ++worse <= 3) {
      ADD_FAILURE() << "block " << b << ": error " << error << " > " << start_error
                    << " of its max/min start";
    }
  }
  EXPECT_EQ(misplaced, 0);
  EXPECT_EQ(worse, 0);
}

INSTANTIATE_TEST_SUITE_P(Qualities, Bc4Blocks,
                         testing::Values(EncodeQuality::Fast, EncodeQuality::Normal,
                                         EncodeQuality::Best),
                         [](const auto& quality) { return std::string(to_string(quality.param)); });

}  // namespace
}  // namespace gpumem
