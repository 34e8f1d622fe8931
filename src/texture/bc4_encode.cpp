// BC4 channel blocks (also BC3 alpha and both halves of BC5). The eight-value mode spans the
// block's range; a least-squares refit of the two endpoints to the chosen indices follows, and
// Normal/Best try the six-value mode (whose fixed 0 and 255 entries suit blocks that touch both
// ends) and walk the endpoints by small steps. Every candidate is scored with the decoder's own
// values, so only real gains are kept.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "bc_encoders.hpp"

namespace gpumem::detail {
namespace {

constexpr int kTexels = 16;

struct Candidate {
  int e0 = 0, e1 = 0;  // e0 > e1: eight values; e0 <= e1: six values plus 0 and 255
  int error = INT_MAX;
  std::uint8_t index[kTexels] = {};
};

int evaluate(const int* v, Candidate& c) {
  int pal[8];
  pal[0] = c.e0;
  pal[1] = c.e1;
  if (c.e0 > c.e1) {
    for (int i = 1; i <= 6; ++i) pal[i + 1] = ((7 - i) * c.e0 + i * c.e1 + 3) / 7;
  } else {
    for (int i = 1; i <= 4; ++i) pal[i + 1] = ((5 - i) * c.e0 + i * c.e1 + 2) / 5;
    pal[6] = 0;
    pal[7] = 255;
  }
  if (c.e0 > c.e1) {
    // Eight values evenly spread from e1 to e0: the nearest is found by arithmetic. Position
    // p counts sevenths up from e1; index 1 is p = 0, index 0 is p = 7, index 8 - p between.
    static constexpr std::uint8_t kIndexOfPosition[8] = {1, 7, 6, 5, 4, 3, 2, 0};
    const float scale = 7.0F / static_cast<float>(c.e0 - c.e1);
    int error = 0;
    for (int i = 0; i < kTexels; ++i) {
      const float pos = static_cast<float>(v[i] - c.e1) * scale + 0.5F;
      const int p = std::clamp(static_cast<int>(pos), 0, 7);
      const std::uint8_t index = kIndexOfPosition[p];
      const int d = v[i] - pal[index];
      error += d * d;
      c.index[i] = index;
    }
    c.error = error;
    return error;
  }
  alignas(16) int best[kTexels];
  alignas(16) int choice[kTexels];
  for (int i = 0; i < kTexels; ++i) {
    best[i] = INT_MAX;
    choice[i] = 0;
  }
  for (int k = 0; k < 8; ++k) {
    for (int i = 0; i < kTexels; ++i) {
      const int d = (v[i] - pal[k]) * (v[i] - pal[k]);
      choice[i] = d < best[i] ? k : choice[i];
      best[i] = d < best[i] ? d : best[i];
    }
  }
  int error = 0;
  for (int i = 0; i < kTexels; ++i) {
    error += best[i];
    c.index[i] = static_cast<std::uint8_t>(choice[i]);
  }
  c.error = error;
  return error;
}

// Weight of e0 for each index, eight-value mode.
constexpr float kWeight8[8] = {1.0F,     0.0F,     6 / 7.0F, 5 / 7.0F,
                               4 / 7.0F, 3 / 7.0F, 2 / 7.0F, 1 / 7.0F};
constexpr float kWeight6[6] = {1.0F, 0.0F, 4 / 5.0F, 3 / 5.0F, 2 / 5.0F, 1 / 5.0F};

bool refit(const int* v, const Candidate& c, Candidate& out) {
  const bool eight = c.e0 > c.e1;
  float aa = 0, bb = 0, ab = 0, ax = 0, bx = 0;
  for (int i = 0; i < kTexels; ++i) {
    const int k = c.index[i];
    if (!eight && k >= 6) continue;
    const float a = eight ? kWeight8[k] : kWeight6[k];
    const float b = 1.0F - a;
    aa += a * a, bb += b * b, ab += a * b;
    ax += a * static_cast<float>(v[i]);
    bx += b * static_cast<float>(v[i]);
  }
  const float det = aa * bb - ab * ab;
  if (std::fabs(det) < 1e-4F) return false;
  const int e0 = round_non_negative(std::clamp((bb * ax - ab * bx) / det, 0.0F, 255.0F));
  const int e1 = round_non_negative(std::clamp((aa * bx - ab * ax) / det, 0.0F, 255.0F));

  // Keep the mode: eight values need e0 > e1, six need e0 <= e1.
  if (eight) {
    if (e0 == e1) return false;
    out.e0 = std::max(e0, e1);
    out.e1 = std::min(e0, e1);
  } else {
    out.e0 = std::min(e0, e1);
    out.e1 = std::max(e0, e1);
  }
  return true;
}

void try_candidate(const int* v, Candidate& best, int e0, int e1) {
  if (e0 < 0 || e0 > 255 || e1 < 0 || e1 > 255) return;
  Candidate c;
  c.e0 = e0;
  c.e1 = e1;
  if (evaluate(v, c) < best.error) best = c;
}

void refine(const int* v, Candidate& best, int passes) {
  for (int pass = 0; pass < passes; ++pass) {
    Candidate next;
    if (!refit(v, best, next) || (next.e0 == best.e0 && next.e1 == best.e1)) return;
    if (evaluate(v, next) >= best.error) return;
    best = next;
  }
}

void walk(const int* v, Candidate& best, int radius) {
  const int e0 = best.e0, e1 = best.e1;
  for (int d0 = -radius; d0 <= radius; ++d0) {
    for (int d1 = -radius; d1 <= radius; ++d1) {
      const int a = e0 + d0, b = e1 + d1;
      if ((a > b) == (e0 > e1)) try_candidate(v, best, a, b);
    }
  }
}

}  // namespace

void encode_bc4_channel(const std::uint8_t* rgba, int channel, std::uint8_t* out,
                        EncodeQuality quality) {
  int v[kTexels];
  int lo = 255, hi = 0;
  for (int i = 0; i < kTexels; ++i) {
    v[i] = rgba[i * 4 + channel];
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  Candidate best;
  if (lo == hi) {
    best.e0 = best.e1 = lo;
    best.error = 0;
  } else {
    best.e0 = hi;
    best.e1 = lo;
    evaluate(v, best);
    // A block already within one step per texel has nothing a refit could win back.
    if (best.error > kTexels) refine(v, best, quality == EncodeQuality::Fast ? 1 : 3);
    if (quality != EncodeQuality::Fast && best.error > 0) {
      // Six-value mode over the texels strictly inside (0, 255), the ends being free.
      int inner_lo = 255, inner_hi = 0;
      for (int x : v) {
        if (x > 0 && x < 255) inner_lo = std::min(inner_lo, x), inner_hi = std::max(inner_hi, x);
      }
      if (inner_lo <= inner_hi && (lo == 0 || hi == 255)) {
        Candidate six;
        six.e0 = inner_lo;
        six.e1 = inner_hi;
        evaluate(v, six);
        refine(v, six, 2);
        if (six.error < best.error) best = six;
      }
      walk(v, best, quality == EncodeQuality::Best ? 2 : 1);
      if (quality == EncodeQuality::Best) refine(v, best, 2);
    }
  }
  out[0] = static_cast<std::uint8_t>(best.e0);
  out[1] = static_cast<std::uint8_t>(best.e1);
  std::uint64_t bits = 0;
  for (int i = 0; i < kTexels; ++i) bits |= static_cast<std::uint64_t>(best.index[i]) << (3 * i);
  for (int b = 0; b < 6; ++b) out[2 + b] = static_cast<std::uint8_t>(bits >> (8 * b));
}

}  // namespace gpumem::detail
