// BC1 colour blocks. A block is fitted in stages, each kept only when it lowers the exact error
// (measured with the decoder's own palette): a line through the texels along their principal
// axis, quantised to 565; then least-squares refits of the endpoints to the chosen indices
// until they stop gaining; Normal adds a second start pulled in from the ends of the line; Best
// then walks the endpoints by single and paired steps and tries the three-colour mode. Solid blocks
// use tables of the best endpoint pair for every 8-bit value, so flat areas come out exact where
// 565 allows.
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "bc_encoders.hpp"

namespace gpumem::detail {
namespace {

constexpr int kTexels = 16;

int expand5(int v) { return (v << 3) | (v >> 2); }
int expand6(int v) { return (v << 2) | (v >> 4); }

struct Tables {
  std::uint8_t nearest5[256] = {};
  std::uint8_t nearest6[256] = {};
  // Best (c0, c1) pair so that the 2/3-1/3 palette entry (index 2) reproduces the value.
  std::array<std::uint8_t, 2> solid5[256] = {};
  std::array<std::uint8_t, 2> solid6[256] = {};

  Tables() {
    for (int v = 0; v < 256; ++v) {
      nearest5[v] = static_cast<std::uint8_t>(best_quantised(v, 31, expand5));
      nearest6[v] = static_cast<std::uint8_t>(best_quantised(v, 63, expand6));
      solid5[v] = best_pair(v, 31, expand5);
      solid6[v] = best_pair(v, 63, expand6);
    }
  }
  static int best_quantised(int v, int max, int (*expand)(int)) {
    int best = 0;
    for (int q = 0; q <= max; ++q) {
      if (std::abs(expand(q) - v) < std::abs(expand(best) - v)) best = q;
    }
    return best;
  }
  static std::array<std::uint8_t, 2> best_pair(int v, int max, int (*expand)(int)) {
    std::array<std::uint8_t, 2> best{};
    int best_error = INT_MAX;
    for (int a = 0; a <= max; ++a) {
      for (int b = 0; b <= max; ++b) {
        const int value = (2 * expand(a) + expand(b) + 1) / 3;
        const int error = std::abs(value - v) * 256 + std::abs(a - b);  // prefer close pairs
        if (error < best_error) {
          best_error = error;
          best = {static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)};
        }
      }
    }
    return best;
  }
};

const Tables& tables() {
  static const Tables kTables;
  return kTables;
}

// Texels as planes of floats (r, g, b), which the compiler vectorises across the 16 texels with
// plain SSE2 (32-bit integer multiplies would need SSE4.1). Values are whole numbers and sums
// of squares stay below 2^24, so float arithmetic is exact here.
struct Texels {
  alignas(16) float c[3][kTexels];
  bool transparent[kTexels];
  int opaque_count;
};

struct Candidate {
  int e[2][3];  // quantised endpoints: 5, 6, 5 bits
  bool three_colour;
  int error = INT_MAX;
  std::uint8_t index[kTexels];
};

unsigned pack565(const int* q) { return static_cast<unsigned>((q[0] << 11) | (q[1] << 5) | q[2]); }

void palette_of(const Candidate& cand, int (&pal)[4][3]) {
  int c0[3] = {expand5(cand.e[0][0]), expand6(cand.e[0][1]), expand5(cand.e[0][2])};
  int c1[3] = {expand5(cand.e[1][0]), expand6(cand.e[1][1]), expand5(cand.e[1][2])};
  for (int ch = 0; ch < 3; ++ch) {
    pal[0][ch] = c0[ch];
    pal[1][ch] = c1[ch];
    if (cand.three_colour) {
      pal[2][ch] = (c0[ch] + c1[ch] + 1) / 2;
      pal[3][ch] = 0;
    } else {
      pal[2][ch] = (2 * c0[ch] + c1[ch] + 1) / 3;
      pal[3][ch] = (c0[ch] + 2 * c1[ch] + 1) / 3;
    }
  }
}

// Chooses each texel's nearest palette entry and returns the block's squared error.
// `entries` is 4, or 3 when index 3 is off limits (three-colour blocks of BC1_RGBA).
int assign(const Texels& t, Candidate& cand, int entries) {
  int pal_int[4][3];
  palette_of(cand, pal_int);
  float pal[4][3];
  for (int k = 0; k < 4; ++k) {
    for (int ch = 0; ch < 3; ++ch) pal[k][ch] = static_cast<float>(pal_int[k][ch]);
  }
  alignas(16) float best[kTexels];
  alignas(16) float choice[kTexels];
#if defined(__SSE2__)
  // Four texels per register; the compiler's own vectorisation of the loop below kept the
  // select in scalar code.
  __m128 best_v[4], choice_v[4];
  for (int v = 0; v < 4; ++v) {
    best_v[v] = _mm_set1_ps(1e30F);
    choice_v[v] = _mm_setzero_ps();
  }
  for (int k = 0; k < entries; ++k) {
    const __m128 pr = _mm_set1_ps(pal[k][0]);
    const __m128 pg = _mm_set1_ps(pal[k][1]);
    const __m128 pb = _mm_set1_ps(pal[k][2]);
    const __m128 kf = _mm_set1_ps(static_cast<float>(k));
    for (std::ptrdiff_t v = 0; v < 4; ++v) {
      const __m128 dr = _mm_sub_ps(_mm_load_ps(t.c[0] + 4 * v), pr);
      const __m128 dg = _mm_sub_ps(_mm_load_ps(t.c[1] + 4 * v), pg);
      const __m128 db = _mm_sub_ps(_mm_load_ps(t.c[2] + 4 * v), pb);
      const __m128 d =
          _mm_add_ps(_mm_add_ps(_mm_mul_ps(dr, dr), _mm_mul_ps(dg, dg)), _mm_mul_ps(db, db));
      const __m128 closer = _mm_cmplt_ps(d, best_v[v]);
      best_v[v] = _mm_min_ps(d, best_v[v]);
      choice_v[v] = _mm_or_ps(_mm_and_ps(closer, kf), _mm_andnot_ps(closer, choice_v[v]));
    }
  }
  for (std::ptrdiff_t v = 0; v < 4; ++v) {
    _mm_store_ps(best + 4 * v, best_v[v]);
    _mm_store_ps(choice + 4 * v, choice_v[v]);
  }
#else
  for (int i = 0; i < kTexels; ++i) {
    best[i] = 1e30F;
    choice[i] = 0;
  }
  for (int k = 0; k < entries; ++k) {
    const float kf = static_cast<float>(k);
    for (int i = 0; i < kTexels; ++i) {
      const float dr = t.c[0][i] - pal[k][0];
      const float dg = t.c[1][i] - pal[k][1];
      const float db = t.c[2][i] - pal[k][2];
      const float d = dr * dr + dg * dg + db * db;
      choice[i] = d < best[i] ? kf : choice[i];
      best[i] = d < best[i] ? d : best[i];
    }
  }
#endif
  float error = 0;
  for (int i = 0; i < kTexels; ++i) {
    if (t.transparent[i]) {
      cand.index[i] = 3;
    } else {
      error += best[i];
      cand.index[i] = static_cast<std::uint8_t>(choice[i]);
    }
  }
  cand.error = static_cast<int>(error);
  return cand.error;
}

void quantise(const float* lo, const float* hi, Candidate& cand) {
  const Tables& tab = tables();
  for (int ch = 0; ch < 3; ++ch) {
    const int a = round_non_negative(std::clamp(lo[ch], 0.0F, 255.0F));
    const int b = round_non_negative(std::clamp(hi[ch], 0.0F, 255.0F));
    const auto& table = ch == 1 ? tab.nearest6 : tab.nearest5;
    cand.e[0][ch] = table[a];
    cand.e[1][ch] = table[b];
  }
}

// Least-squares endpoints for the candidate's indices; false when the indices do not pin down
// two endpoints (all texels on one palette weight).
bool refit(const Texels& t, const Candidate& cand, float (&lo)[3], float (&hi)[3]) {
  static constexpr float kFour[4] = {1.0F, 0.0F, 2.0F / 3.0F, 1.0F / 3.0F};
  static constexpr float kThree[4] = {1.0F, 0.0F, 0.5F, 0.0F};
  const float* weight = cand.three_colour ? kThree : kFour;
  float aa = 0, bb = 0, ab = 0;
  float ax[3] = {}, bx[3] = {};
  for (int i = 0; i < kTexels; ++i) {
    if (t.transparent[i] || (cand.three_colour && cand.index[i] == 3)) continue;
    const float a = weight[cand.index[i]];
    const float b = 1.0F - a;
    aa += a * a;
    bb += b * b;
    ab += a * b;
    for (int ch = 0; ch < 3; ++ch) {
      ax[ch] += a * t.c[ch][i];
      bx[ch] += b * t.c[ch][i];
    }
  }
  const float det = aa * bb - ab * ab;
  if (std::fabs(det) < 1e-4F) return false;
  const float inv = 1.0F / det;
  for (int ch = 0; ch < 3; ++ch) {
    lo[ch] = (bb * ax[ch] - ab * bx[ch]) * inv;
    hi[ch] = (aa * bx[ch] - ab * ax[ch]) * inv;
  }
  return true;
}

void principal_line(const Texels& t, float (&lo)[3], float (&hi)[3]) {
  float mean[3] = {};
  int n = 0;
  for (int i = 0; i < kTexels; ++i) {
    if (t.transparent[i]) continue;
    for (int ch = 0; ch < 3; ++ch) mean[ch] += t.c[ch][i];
    ++n;
  }
  for (float& m : mean) m /= static_cast<float>(n);
  float cov[6] = {};  // rr rg rb gg gb bb
  for (int i = 0; i < kTexels; ++i) {
    if (t.transparent[i]) continue;
    const float r = t.c[0][i] - mean[0];
    const float g = t.c[1][i] - mean[1];
    const float b = t.c[2][i] - mean[2];
    cov[0] += r * r;
    cov[1] += r * g;
    cov[2] += r * b;
    cov[3] += g * g;
    cov[4] += g * b;
    cov[5] += b * b;
  }
  // Power iteration from the row of the widest channel; four steps settle the axis well
  // enough, the refits below correct what is left.
  float v[3] = {cov[0], cov[1], cov[2]};
  if (cov[3] > cov[0] && cov[3] >= cov[5]) {
    v[0] = cov[1], v[1] = cov[3], v[2] = cov[4];
  } else if (cov[5] > cov[0] && cov[5] > cov[3]) {
    v[0] = cov[2], v[1] = cov[4], v[2] = cov[5];
  }
  for (int iter = 0; iter < 4; ++iter) {
    const float x = cov[0] * v[0] + cov[1] * v[1] + cov[2] * v[2];
    const float y = cov[1] * v[0] + cov[3] * v[1] + cov[4] * v[2];
    const float z = cov[2] * v[0] + cov[4] * v[1] + cov[5] * v[2];
    const float m = std::max({std::fabs(x), std::fabs(y), std::fabs(z)});
    if (m < 1e-6F) break;
    v[0] = x / m, v[1] = y / m, v[2] = z / m;
  }
  const float len2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
  float tmin = 0, tmax = 0;
  if (len2 > 1e-12F) {
    tmin = 1e30F, tmax = -1e30F;
    for (int i = 0; i < kTexels; ++i) {
      if (t.transparent[i]) continue;
      const float p = (t.c[0][i] - mean[0]) * v[0] + (t.c[1][i] - mean[1]) * v[1] +
                      (t.c[2][i] - mean[2]) * v[2];
      tmin = std::min(tmin, p);
      tmax = std::max(tmax, p);
    }
    tmin /= len2, tmax /= len2;
  }
  for (int ch = 0; ch < 3; ++ch) {
    hi[ch] = mean[ch] + v[ch] * tmin;
    lo[ch] = mean[ch] + v[ch] * tmax;
  }
}

// Fits endpoints and indices for one mode (four- or three-colour), refining `passes` times.
// Least-squares refits from the candidate's indices, kept while they lower the error.
bool polish(const Texels& t, Candidate& best, int entries, int passes) {
  bool changed = false;
  float lo[3], hi[3];
  for (int pass = 0; pass < passes; ++pass) {
    if (!refit(t, best, lo, hi)) break;
    Candidate next = best;
    quantise(lo, hi, next);
    if (std::memcmp(next.e, best.e, sizeof(best.e)) == 0) break;
    if (assign(t, next, entries) >= best.error) break;
    best = next;
    changed = true;
  }
  return changed;
}

Candidate fit(const Texels& t, const float (&lo)[3], const float (&hi)[3], bool three_colour,
              int entries, int passes) {
  Candidate best;
  best.three_colour = three_colour;
  quantise(lo, hi, best);
  assign(t, best, entries);
  polish(t, best, entries, passes);
  return best;
}

// Greedy steps while any lowers the error: each of the six endpoint channels by +-1, and each
// channel of both endpoints together (moving or stretching the segment), which single steps
// cannot reach when each alone makes things worse.
void walk(const Texels& t, Candidate& best, int entries, int max_rounds) {
  static constexpr int kMax[3] = {31, 63, 31};
  static constexpr int kMoves[8][2] = {{-1, 0},  {1, 0}, {0, -1}, {0, 1},
                                       {-1, -1}, {1, 1}, {-1, 1}, {1, -1}};
  for (int round = 0; round < max_rounds; ++round) {
    bool improved = false;
    for (int ch = 0; ch < 3; ++ch) {
      for (const auto& move : kMoves) {
        const int v0 = best.e[0][ch] + move[0];
        const int v1 = best.e[1][ch] + move[1];
        if (v0 < 0 || v0 > kMax[ch] || v1 < 0 || v1 > kMax[ch]) continue;
        Candidate next = best;
        next.e[0][ch] = v0;
        next.e[1][ch] = v1;
        if (assign(t, next, entries) < best.error) {
          best = next;
          improved = true;
        }
      }
    }
    if (!improved || best.error == 0) break;
  }
}

void write_block(Candidate cand, bool four_colour_only, std::uint8_t* out) {
  unsigned c0 = pack565(cand.e[0]);
  unsigned c1 = pack565(cand.e[1]);
  if (!four_colour_only) {
    // The endpoint order selects the mode: c0 > c1 is four-colour, c0 <= c1 three-colour.
    if (c0 == c1) {
      // Equal endpoints read as three-colour: every entry but 3 is the one colour.
      for (std::uint8_t& i : cand.index) i = i == 3 && cand.three_colour ? 3 : 0;
    } else if ((c0 < c1) != cand.three_colour) {
      std::swap(c0, c1);
      for (std::uint8_t& i : cand.index) {
        i = cand.three_colour ? (i < 2 ? static_cast<std::uint8_t>(i ^ 1U) : i)
                              : static_cast<std::uint8_t>(i ^ 1U);
      }
    }
  }
  out[0] = static_cast<std::uint8_t>(c0 & 0xFFU);
  out[1] = static_cast<std::uint8_t>(c0 >> 8);
  out[2] = static_cast<std::uint8_t>(c1 & 0xFFU);
  out[3] = static_cast<std::uint8_t>(c1 >> 8);
  std::uint32_t bits = 0;
  for (int i = 0; i < kTexels; ++i) bits |= static_cast<std::uint32_t>(cand.index[i]) << (2 * i);
  std::memcpy(out + 4, &bits, 4);
}

}  // namespace

void encode_bc1_block(const std::uint8_t* rgba, std::uint8_t* out, EncodeQuality quality,
                      bool three_colour_alpha, bool four_colour_only) {
  Texels t;
  t.opaque_count = 0;
  bool solid = true;
  for (int i = 0; i < kTexels; ++i) {
    for (int ch = 0; ch < 3; ++ch) t.c[ch][i] = rgba[i * 4 + ch];
    t.transparent[i] = three_colour_alpha && rgba[i * 4 + 3] < 128;
    t.opaque_count += t.transparent[i] ? 0 : 1;
    solid = solid && std::memcmp(rgba, rgba + std::ptrdiff_t{i} * 4, 3) == 0;
  }
  const bool any_transparent = t.opaque_count < kTexels;
  if (t.opaque_count == 0) {  // all transparent: three-colour block, every index 3
    const std::uint8_t block[8] = {0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF};
    std::memcpy(out, block, 8);
    return;
  }
  if (solid && !any_transparent) {
    const Tables& tab = tables();
    Candidate cand;
    cand.three_colour = false;
    for (int ch = 0; ch < 3; ++ch) {
      const auto& pair = ch == 1 ? tab.solid6[rgba[ch]] : tab.solid5[rgba[ch]];
      cand.e[0][ch] = pair[0];
      cand.e[1][ch] = pair[1];
    }
    assign(t, cand, 4);
    write_block(cand, four_colour_only, out);
    return;
  }
  float line_lo[3], line_hi[3];
  principal_line(t, line_lo, line_hi);
  Candidate best;
  if (any_transparent) {
    // BC1_RGBA with transparent texels: only the three-colour mode can express them.
    best = fit(t, line_lo, line_hi, true, 3, quality == EncodeQuality::Fast ? 1 : 8);
    if (quality == EncodeQuality::Best) walk(t, best, 3, 4);
    write_block(best, false, out);
    return;
  }
  // Refits stop by themselves once they stop gaining (two or three passes on most blocks), so
  // even Fast lets them run to the end.
  const int passes = 8;
  best = fit(t, line_lo, line_hi, false, 4, passes);
  if (quality != EncodeQuality::Fast) {
    // A second start: the principal segment pulled in by an eighth at each end, which suits
    // blocks whose extremes are lone outliers.
    float lo[3], hi[3];
    std::copy(line_lo, line_lo + 3, lo);
    std::copy(line_hi, line_hi + 3, hi);
    for (int ch = 0; ch < 3; ++ch) {
      const float inset = (hi[ch] - lo[ch]) / 8.0F;
      lo[ch] += inset;
      hi[ch] -= inset;
    }
    Candidate inset;
    inset.three_colour = false;
    quantise(lo, hi, inset);
    assign(t, inset, 4);
    polish(t, inset, 4, passes);
    if (inset.error < best.error) best = inset;
  }
  if (quality == EncodeQuality::Best) {
    // The walk changes indices, from which a refit can find a better pair again.
    walk(t, best, 4, 2);
    if (polish(t, best, 4, passes)) walk(t, best, 4, 1);
    if (!four_colour_only) {
      // Three-colour blocks: the half-way entry, and black for BC1_RGB where it is opaque.
      // Walked only when close, as it rarely wins.
      const int entries = three_colour_alpha ? 3 : 4;
      Candidate three = fit(t, line_lo, line_hi, true, entries, passes);
      if (three.error < best.error + best.error / 4) walk(t, three, entries, 2);
      if (three.error < best.error) best = three;
    }
  }
  write_block(best, four_colour_only, out);
}

}  // namespace gpumem::detail
