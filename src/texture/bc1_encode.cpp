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

#include "bc_encoders.hpp"
#include "bc_kernels.hpp"

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

using Texels = Bc1Texels;

struct Candidate {
  int e[2][3];  // quantised endpoints: 5, 6, 5 bits
  bool three_colour;
  int error = INT_MAX;
  std::uint8_t index[kTexels];
  Bc1FitSums sums;  // for a refit of these indices; set by assign() unless it was told not to
};

unsigned pack565(const int* q) { return static_cast<unsigned>((q[0] << 11) | (q[1] << 5) | q[2]); }

// Chooses each texel's nearest palette entry and returns the block's squared error.
// `entries` is 4, or 3 when index 3 is off limits (three-colour blocks of BC1_RGBA). Without
// `with_sums` (for trials most of which lose) the candidate cannot be refitted.
int assign(const Texels& t, Candidate& cand, int entries, bool with_sums = true) {
  cand.error = bc1_nearest(t, cand.e, cand.three_colour, entries, cand.index,
                           with_sums ? &cand.sums : nullptr);
  if (t.live_count < kTexels) {
    for (int i = 0; i < kTexels; ++i) cand.index[i] = t.live[i] != 0 ? cand.index[i] : 3;
  }
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
// two endpoints (all texels on one palette weight). With weights a = w/d of endpoint 0 and the
// exact sums of bc1_fit_sums(), the normal equations scaled by d^2 have whole-number terms.
bool refit(const Candidate& cand, float (&lo)[3], float (&hi)[3]) {
  const Bc1FitSums& s = cand.sums;
  const float d = cand.three_colour ? 2.0F : 3.0F;
  const float aa = s.ww;                                     // d^2 * sum(a^2)
  const float bb = s.count * d * d - 2.0F * d * s.w + s.ww;  // d^2 * sum(b^2)
  const float ab = d * s.w - s.ww;                           // d^2 * sum(a b)
  const float det = aa * bb - ab * ab;
  if (det < 0.5F) return false;  // a whole number: zero when the indices are degenerate
  const float scale = d / det;
  for (int ch = 0; ch < 3; ++ch) {
    const float ax = s.wx[ch];                // d * sum(a x)
    const float bx = d * s.x[ch] - s.wx[ch];  // d * sum(b x)
    lo[ch] = (bb * ax - ab * bx) * scale;
    hi[ch] = (aa * bx - ab * ax) * scale;
  }
  return true;
}

void principal_line(const Texels& t, float (&lo)[3], float (&hi)[3]) {
  const float n = static_cast<float>(t.live_count);
  const float inv_n = 1.0F / n;
  const float mean[3] = {t.sum[0] * inv_n, t.sum[1] * inv_n, t.sum[2] * inv_n};
  // Covariance (times n) from the exact sums: sum(xy) - sum(x) sum(y) / n.
  const float* p = t.products;
  const float* s = t.sum;
  const float cov[6] = {p[0] - s[0] * mean[0], p[1] - s[0] * mean[1], p[2] - s[0] * mean[2],
                        p[3] - s[1] * mean[1], p[4] - s[1] * mean[2], p[5] - s[2] * mean[2]};
  // Power iteration from the row of the widest channel; four steps settle the axis well
  // enough, the refits below correct what is left. They are taken as two steps with the squared
  // matrix, whose six terms are independent products: a shorter chain of dependent operations
  // than four steps with a division each. Scaled once at the end (the terms stay far inside the
  // float range: at most about 1e26 from a row scaled to 1).
  float v[3] = {cov[0], cov[1], cov[2]};
  if (cov[3] > cov[0] && cov[3] >= cov[5]) {
    v[0] = cov[1], v[1] = cov[3], v[2] = cov[4];
  } else if (cov[5] > cov[0] && cov[5] > cov[3]) {
    v[0] = cov[2], v[1] = cov[4], v[2] = cov[5];
  }
  const float row_max = std::max({std::fabs(v[0]), std::fabs(v[1]), std::fabs(v[2])});
  if (row_max > 0) {
    const float inv = 1.0F / row_max;
    v[0] *= inv, v[1] *= inv, v[2] *= inv;
  }
  const float sq[6] = {cov[0] * cov[0] + cov[1] * cov[1] + cov[2] * cov[2],
                       cov[0] * cov[1] + cov[1] * cov[3] + cov[2] * cov[4],
                       cov[0] * cov[2] + cov[1] * cov[4] + cov[2] * cov[5],
                       cov[1] * cov[1] + cov[3] * cov[3] + cov[4] * cov[4],
                       cov[1] * cov[2] + cov[3] * cov[4] + cov[4] * cov[5],
                       cov[2] * cov[2] + cov[4] * cov[4] + cov[5] * cov[5]};
  for (int iter = 0; iter < 2; ++iter) {
    const float x = sq[0] * v[0] + sq[1] * v[1] + sq[2] * v[2];
    const float y = sq[1] * v[0] + sq[3] * v[1] + sq[4] * v[2];
    const float z = sq[2] * v[0] + sq[4] * v[1] + sq[5] * v[2];
    v[0] = x, v[1] = y, v[2] = z;
  }
  const float m = std::max({std::fabs(v[0]), std::fabs(v[1]), std::fabs(v[2])});
  const float inv_m = m > 1e-20F ? 1.0F / m : 0.0F;
  v[0] *= inv_m, v[1] *= inv_m, v[2] *= inv_m;
  const float len2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
  float tmin = 0, tmax = 0;
  if (len2 > 1e-12F) {
    // Extent along the axis; the mean's own projection is taken off once afterwards.
    float pmin = 1e30F, pmax = -1e30F;
    for (int i = 0; i < kTexels; ++i) {
      const float q = t.c[0][i] * v[0] + t.c[1][i] * v[1] + t.c[2][i] * v[2];
      pmin = t.live[i] != 0 && q < pmin ? q : pmin;
      pmax = t.live[i] != 0 && q > pmax ? q : pmax;
    }
    const float centre = mean[0] * v[0] + mean[1] * v[1] + mean[2] * v[2];
    const float inv_len2 = 1.0F / len2;
    tmin = (pmin - centre) * inv_len2;
    tmax = (pmax - centre) * inv_len2;
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
    if (!refit(best, lo, hi)) break;
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

// Greedy steps while any lowers the error: per channel, the best of kBc1ChannelMoves (each
// endpoint by +-1, and both together, moving or stretching the segment, which single steps cannot
// reach when each alone makes things worse), all eight scored by one kernel call.
void walk(const Texels& t, Candidate& best, int entries, int max_rounds) {
  for (int round = 0; round < max_rounds; ++round) {
    bool improved = false;
    for (int ch = 0; ch < 3; ++ch) {
      int errors[8];
      bc1_channel_moves(t, best.e, best.three_colour, entries, ch, errors);
      const int m = static_cast<int>(std::min_element(errors, errors + 8) - errors);
      if (errors[m] >= best.error) continue;
      best.e[0][ch] += kBc1ChannelMoves[m][0];
      best.e[1][ch] += kBc1ChannelMoves[m][1];
      assign(t, best, entries);  // the indices and sums of the step taken
      improved = true;
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
  bc1_load(rgba, three_colour_alpha, t);
  const bool solid = t.solid;
  const bool any_transparent = t.live_count < kTexels;
  if (t.live_count == 0) {  // all transparent: three-colour block, every index 3
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
