// BC4 channel blocks (also BC3 alpha and both halves of BC5). The eight-value mode spans the
// block's range; a least-squares refit of the two endpoints to the chosen indices follows, and
// Normal/Best try the six-value mode (whose fixed 0 and 255 entries suit blocks that touch both
// ends) and walk the endpoints by small steps. Every candidate is scored with the decoder's own
// values, so only real gains are kept.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "bc_encoders.hpp"
#include "bc_kernels.hpp"

namespace gpumem::detail {
namespace {

constexpr int kTexels = 16;

struct Candidate {
  int e0 = 0, e1 = 0;  // e0 > e1: eight values; e0 <= e1: six values plus 0 and 255
  int error = INT_MAX;
  std::uint8_t index[kTexels] = {};
};

// A block's texels, one channel.
struct Texels {
  std::uint8_t bytes[kTexels];
};

int evaluate(const Texels& t, Candidate& c) {
  if (c.e0 > c.e1) {  // eight evenly spread values: the kernel finds the nearest by arithmetic
    c.error = bc4_nearest8(t.bytes, c.e0, c.e1, c.index);
    return c.error;
  }
  const std::uint8_t* v = t.bytes;
  int pal[8];
  pal[0] = c.e0;
  pal[1] = c.e1;
  for (int i = 1; i <= 4; ++i) pal[i + 1] = ((5 - i) * c.e0 + i * c.e1 + 2) / 5;
  pal[6] = 0;
  pal[7] = 255;
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

// Weight of e0 for each index in steps of the mode's denominator (7 or 5); 6 and 7 of the
// six-value mode are the fixed 0 and 255 and take no part in the fit.
constexpr int kSteps8[8] = {7, 0, 6, 5, 4, 3, 2, 1};
constexpr int kSteps6[8] = {5, 0, 4, 3, 2, 1, -1, -1};

// Least-squares endpoints for the candidate's indices. With e0's weight w/d and e1's (d-w)/d,
// every sum is an integer, so the solve is exact in 64-bit integers and the loop over the
// texels is plain integer arithmetic the compiler vectorises.
bool refit(const Texels& t, const Candidate& c, Candidate& out) {
  const std::uint8_t* v = t.bytes;
  const bool eight = c.e0 > c.e1;
  const int* steps = eight ? kSteps8 : kSteps6;
  const int d = eight ? 7 : 5;
  // The sums stay small (at most 16 * 7 * 255); their products need 64 bits.
  int sww = 0, suu = 0, swu = 0, swx = 0, sux = 0;
  for (int i = 0; i < kTexels; ++i) {
    const int w = steps[c.index[i]];
    const int u = w < 0 ? 0 : d - w;
    const int wk = w < 0 ? 0 : w;
    sww += wk * wk, suu += u * u, swu += wk * u;
    swx += wk * v[i], sux += u * v[i];
  }
  const std::int64_t ww = sww, uu = suu, wu = swu, wx = swx, ux = sux;
  const std::int64_t det = ww * uu - wu * wu;
  if (det == 0) return false;
  const float scale = static_cast<float>(d) / static_cast<float>(det);
  const float f0 = static_cast<float>(uu * wx - wu * ux) * scale;
  const float f1 = static_cast<float>(ww * ux - wu * wx) * scale;
  const int e0 = round_non_negative(std::clamp(f0, 0.0F, 255.0F));
  const int e1 = round_non_negative(std::clamp(f1, 0.0F, 255.0F));
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

void try_candidate(const Texels& t, Candidate& best, int e0, int e1) {
  if (e0 < 0 || e0 > 255 || e1 < 0 || e1 > 255) return;
  Candidate c;
  c.e0 = e0;
  c.e1 = e1;
  if (evaluate(t, c) < best.error) best = c;
}

void refine(const Texels& t, Candidate& best, int passes) {
  for (int pass = 0; pass < passes; ++pass) {
    Candidate next;
    if (!refit(t, best, next) || (next.e0 == best.e0 && next.e1 == best.e1)) return;
    if (evaluate(t, next) >= best.error) return;
    best = next;
  }
}

void walk(const Texels& t, Candidate& best, int radius) {
  const int e0 = best.e0, e1 = best.e1;
  for (int d0 = -radius; d0 <= radius; ++d0) {
    for (int d1 = -radius; d1 <= radius; ++d1) {
      const int a = e0 + d0, b = e1 + d1;
      if ((a > b) == (e0 > e1)) try_candidate(t, best, a, b);
    }
  }
}

}  // namespace

void encode_bc4_channel(const std::uint8_t* rgba, int channel, std::uint8_t* out,
                        EncodeQuality quality) {
  Texels t;
  const auto [lo, hi] = bc4_load(rgba, channel, t.bytes);
  Candidate best;
  if (lo == hi) {
    best.e0 = best.e1 = lo;
    best.error = 0;
  } else {
    best.e0 = hi;
    best.e1 = lo;
    evaluate(t, best);
    // A block already within one step per texel has nothing a refit could win back.
    if (best.error > kTexels) refine(t, best, quality == EncodeQuality::Fast ? 1 : 3);
    if (quality != EncodeQuality::Fast && best.error > 0) {
      // Six-value mode over the texels strictly inside (0, 255), the ends being free.
      int inner_lo = 255, inner_hi = 0;
      for (int x : t.bytes) {
        if (x > 0 && x < 255) inner_lo = std::min(inner_lo, x), inner_hi = std::max(inner_hi, x);
      }
      if (inner_lo <= inner_hi && (lo == 0 || hi == 255)) {
        Candidate six;
        six.e0 = inner_lo;
        six.e1 = inner_hi;
        evaluate(t, six);
        refine(t, six, 2);
        if (six.error < best.error) best = six;
      }
      walk(t, best, quality == EncodeQuality::Best ? 2 : 1);
      if (quality == EncodeQuality::Best) refine(t, best, 2);
    }
  }
  out[0] = static_cast<std::uint8_t>(best.e0);
  out[1] = static_cast<std::uint8_t>(best.e1);
  std::uint64_t bits = 0;
  for (int i = 0; i < kTexels; ++i) bits |= static_cast<std::uint64_t>(best.index[i]) << (3 * i);
  for (int b = 0; b < 6; ++b) out[2 + b] = static_cast<std::uint8_t>(bits >> (8 * b));
}

}  // namespace gpumem::detail
