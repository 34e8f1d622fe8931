// The BCn encoders' SIMD kernels: every SIMD level this CPU has must give the same blocks as the
// portable scalar code (whole images, every encodable format and quality), and the kernels must
// find what they promise: the nearest palette entry, checked against brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

#include "gpumem/texture/bc_block.hpp"
#include "gpumem/texture/bc_codec.hpp"
#include "gpumem/texture/image_io.hpp"
#include "texture/bc_kernels.hpp"
#include "texture/simd_level.hpp"

namespace gpumem {
namespace {

using detail::SimdLevel;
using F = TextureFormat;
using Q = EncodeQuality;

// Runs the test body at one SIMD level and puts the detected level back afterwards.
class AtLevel {
 public:
  explicit AtLevel(SimdLevel level) : used_(detail::set_simd_level(level)) {}
  ~AtLevel() { detail::set_simd_level(detail::detected_simd_level()); }
  AtLevel(const AtLevel&) = delete;
  AtLevel& operator=(const AtLevel&) = delete;
  SimdLevel used() const { return used_; }

 private:
  SimdLevel used_;
};

std::vector<SimdLevel> simd_levels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::Sse2, SimdLevel::Avx2}) {
    if (l <= detail::detected_simd_level()) levels.push_back(l);
  }
  return levels;
}

// The SIMD levels and the scalar code: what a kernel test checks against brute force.
std::vector<SimdLevel> all_levels() {
  std::vector<SimdLevel> levels = simd_levels();
  levels.push_back(SimdLevel::Scalar);
  return levels;
}

std::uint32_t next_random(std::uint32_t& state) {
  state = state * 1664525U + 1013904223U;
  return state >> 8;
}

void random_texels(std::uint32_t& state, std::uint8_t (&rgba)[64]) {
  for (std::uint8_t& b : rgba) b = static_cast<std::uint8_t>(next_random(state));
}

// A Kodak crop beside noise with random alpha (transparent texels for BC1_RGBA) and flat
// patches (the solid-block paths).
Image test_image() {
  const Image kodim = load_png(GPUMEM_TEXTURE_TEST_DATA "/kodim03_crop.png");
  Image img(kodim.width(), kodim.height() + 32);
  std::uint32_t state = 99;
  for (std::uint32_t y = 0; y < img.height(); ++y) {
    for (std::uint32_t x = 0; x < img.width(); ++x) {
      std::uint8_t* p = img.pixel(x, y);
      if (y < kodim.height()) {
        std::copy_n(kodim.pixel(x, y), 4, p);
        p[3] = static_cast<std::uint8_t>(next_random(state));
      } else if (x < 16) {
        p[0] = 40, p[1] = 200, p[2] = 7, p[3] = 255;
      } else {
        for (int ch = 0; ch < 4; ++ch) p[ch] = static_cast<std::uint8_t>(next_random(state));
      }
    }
  }
  return img;
}

TEST(BcKernels, EverySimdLevelEncodesLikeTheScalarCode) {
  const Image img = test_image();
  for (F format : {F::BC1_RGB_UNORM_BLOCK, F::BC1_RGBA_UNORM_BLOCK, F::BC3_UNORM_BLOCK,
                   F::BC4_UNORM_BLOCK, F::BC5_UNORM_BLOCK}) {
    for (Q q : {Q::Fast, Q::Normal, Q::Best}) {
      std::vector<std::uint8_t> scalar;
      {
        const AtLevel at(SimdLevel::Scalar);
        ASSERT_EQ(at.used(), SimdLevel::Scalar);
        scalar = encode_bc(img.view(), format, {.quality = q, .threads = 1});
      }
      for (SimdLevel level : simd_levels()) {
        const AtLevel at(level);
        EXPECT_EQ(encode_bc(img.view(), format, {.quality = q, .threads = 1}), scalar)
            << to_string(format) << " " << to_string(q) << " at " << detail::to_string(level);
      }
    }
  }
}

// Brute force over every eight-value palette (e0 > e1) and every texel value: the kernel's index
// names a value at the least distance, and its error is the sum of those least distances.
TEST(BcKernels, Bc4NearestFindsTheNearestValue) {
  const std::vector<SimdLevel> levels = all_levels();
  for (SimdLevel level : levels) {
    const AtLevel at(level);
    for (int e0 = 1; e0 < 256; ++e0) {
      for (int e1 = 0; e1 < e0; ++e1) {
        std::uint8_t block[8] = {static_cast<std::uint8_t>(e0), static_cast<std::uint8_t>(e1)};
        std::uint8_t palette[8][4];
        for (int k = 0; k < 8; ++k) {
          std::uint64_t bits = 0;
          for (int i = 0; i < 16; ++i) bits |= static_cast<std::uint64_t>(k) << (3 * i);
          for (int b = 0; b < 6; ++b) block[2 + b] = static_cast<std::uint8_t>(bits >> (8 * b));
          std::uint8_t rgba[64];
          decode_bc4_block(block, rgba, false);
          std::copy_n(rgba, 4, palette[k]);
        }
        for (int start = 0; start < 256; start += 16) {
          std::uint8_t values[16], index[16];
          for (int i = 0; i < 16; ++i) values[i] = static_cast<std::uint8_t>(start + i);
          const int error = detail::bc4_nearest8(values, e0, e1, index);
          int expected = 0;
          for (int i = 0; i < 16; ++i) {
            int least = INT_MAX;
            for (const auto& entry : palette)
              least = std::min(least, std::abs(values[i] - entry[0]));
            ASSERT_LT(index[i], 8);
            ASSERT_EQ(std::abs(values[i] - palette[index[i]][0]), least)
                << "e0 " << e0 << " e1 " << e1 << " value " << int{values[i]} << " at "
                << detail::to_string(level);
            expected += least * least;
          }
          ASSERT_EQ(error, expected) << "e0 " << e0 << " e1 " << e1;
        }
      }
    }
  }
}

// Random blocks and endpoints, both modes: indices name a nearest decoder palette colour, the
// error skips transparent texels, and the refit sums match their definition.
TEST(BcKernels, Bc1NearestMatchesTheDecoderPalette) {
  const std::vector<SimdLevel> levels = all_levels();
  std::uint32_t state = 7;
  for (int trial = 0; trial < 2000; ++trial) {
    std::uint8_t rgba[64];
    random_texels(state, rgba);
    int e[2][3];
    for (auto& end : e) {
      end[0] = static_cast<int>(next_random(state) % 32);
      end[1] = static_cast<int>(next_random(state) % 64);
      end[2] = static_cast<int>(next_random(state) % 32);
    }
    const bool three = trial % 2 == 1;
    const bool alpha = trial % 4 == 1;
    // The decoder's palette: a block whose order selects the mode, with indices 0..3.
    const unsigned c0 = static_cast<unsigned>((e[0][0] << 11) | (e[0][1] << 5) | e[0][2]);
    const unsigned c1 = static_cast<unsigned>((e[1][0] << 11) | (e[1][1] << 5) | e[1][2]);
    if ((c0 > c1) == three || c0 == c1) continue;
    const std::uint8_t block[8] = {static_cast<std::uint8_t>(c0),
                                   static_cast<std::uint8_t>(c0 >> 8),
                                   static_cast<std::uint8_t>(c1),
                                   static_cast<std::uint8_t>(c1 >> 8),
                                   0xE4,
                                   0,
                                   0,
                                   0};  // texels 0..3 take indices 0..3
    std::uint8_t decoded[64];
    decode_bc1_block(block, decoded, false);
    const int entries = alpha ? 3 : 4;
    for (SimdLevel level : levels) {
      const AtLevel at(level);
      detail::Bc1Texels t;
      detail::bc1_load(rgba, alpha, t);
      std::uint8_t index[16];
      detail::Bc1FitSums sums{};
      const int error = detail::bc1_nearest(t, e, three, entries, index, &sums);
      int expected = 0;
      detail::Bc1FitSums want{};
      const int weights[4] = {three ? 2 : 3, 0, three ? 1 : 2, three ? 0 : 1};
      for (int i = 0; i < 16; ++i) {
        auto dist = [&](int k) {
          int d = 0;
          for (int ch = 0; ch < 3; ++ch) {
            const int diff = rgba[i * 4 + ch] - decoded[k * 4 + ch];
            d += diff * diff;
          }
          return d;
        };
        int least = INT_MAX;
        for (int k = 0; k < entries; ++k) least = std::min(least, dist(k));
        ASSERT_LT(index[i], entries);
        ASSERT_EQ(dist(index[i]), least) << "trial " << trial << " at " << detail::to_string(level);
        const bool live = !alpha || rgba[i * 4 + 3] >= 128;
        if (!live) continue;
        expected += least;
        if (three && index[i] == 3) continue;
        const float w = static_cast<float>(weights[index[i]]);
        for (int ch = 0; ch < 3; ++ch) {
          want.wx[ch] += w * rgba[i * 4 + ch];
          want.x[ch] += rgba[i * 4 + ch];
        }
        want.w += w, want.ww += w * w, want.count += 1;
      }
      EXPECT_EQ(error, expected) << "trial " << trial;
      for (int ch = 0; ch < 3; ++ch) {
        EXPECT_EQ(sums.wx[ch], want.wx[ch]);
        EXPECT_EQ(sums.x[ch], want.x[ch]);
      }
      EXPECT_EQ(sums.w, want.w);
      EXPECT_EQ(sums.ww, want.ww);
      EXPECT_EQ(sums.count, want.count);
    }
  }
}

// The walk's batch of eight steps scores each exactly as bc1_nearest() scores the stepped
// endpoints, and marks the steps that leave the range.
TEST(BcKernels, Bc1ChannelMovesScoreLikeNearest) {
  const std::vector<SimdLevel> levels = all_levels();
  std::uint32_t state = 11;
  for (int trial = 0; trial < 300; ++trial) {
    std::uint8_t rgba[64];
    random_texels(state, rgba);
    int e[2][3];
    for (auto& end : e) {  // ends of the range included, where steps fall outside
      end[0] = trial % 5 == 0 ? 0 : static_cast<int>(next_random(state) % 32);
      end[1] = trial % 7 == 0 ? 63 : static_cast<int>(next_random(state) % 64);
      end[2] = static_cast<int>(next_random(state) % 32);
    }
    const bool three = trial % 3 == 0;
    const bool alpha = trial % 6 == 0;
    const int entries = alpha ? 3 : 4;
    for (SimdLevel level : levels) {
      const AtLevel at(level);
      detail::Bc1Texels t;
      detail::bc1_load(rgba, alpha, t);
      for (int ch = 0; ch < 3; ++ch) {
        int errors[8];
        detail::bc1_channel_moves(t, e, three, entries, ch, errors);
        for (int m = 0; m < 8; ++m) {
          int stepped[2][3] = {{e[0][0], e[0][1], e[0][2]}, {e[1][0], e[1][1], e[1][2]}};
          stepped[0][ch] += detail::kBc1ChannelMoves[m][0];
          stepped[1][ch] += detail::kBc1ChannelMoves[m][1];
          const int max = ch == 1 ? 63 : 31;
          if (std::min(stepped[0][ch], stepped[1][ch]) < 0 ||
              std::max(stepped[0][ch], stepped[1][ch]) > max) {
            EXPECT_EQ(errors[m], INT_MAX);
            continue;
          }
          std::uint8_t index[16];
          EXPECT_EQ(errors[m], detail::bc1_nearest(t, stepped, three, entries, index, nullptr))
              << "trial " << trial << " channel " << ch << " move " << m << " at "
              << detail::to_string(level);
        }
      }
    }
  }
}

// Flat blocks take the table path: any grey level comes back within 1 (through the 2/3 entry),
// the same at every level.
TEST(BcKernels, SolidGreyBlocksComeBackWithinOne) {
  const std::vector<SimdLevel> levels = all_levels();
  for (SimdLevel level : levels) {
    const AtLevel at(level);
    for (int v = 0; v < 256; ++v) {
      Image img(4, 4);
      for (std::uint8_t& b : img.bytes()) b = static_cast<std::uint8_t>(v);
      for (Q q : {Q::Fast, Q::Best}) {
        const auto blocks = encode_bc(img.view(), F::BC1_RGB_UNORM_BLOCK, {.quality = q});
        const Image back = decode_bc(blocks, 4, 4, F::BC1_RGB_UNORM_BLOCK);
        for (int ch = 0; ch < 3; ++ch) {
          ASSERT_NEAR(back.pixel(1, 2)[ch], v, 1)
              << "grey " << v << " at " << detail::to_string(level);
        }
      }
    }
  }
}

}  // namespace
}  // namespace gpumem
