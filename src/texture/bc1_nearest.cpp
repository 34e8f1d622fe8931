// bc1_nearest() at each SIMD level. A texel's squared distance to a palette colour is a whole
// number below 3 * 255^2, so the key distance * 4 + entry is exact in a float: one min over the
// keys finds the nearest entry and breaks ties towards the lower index, with no separate select,
// and every level computes exactly the same keys. The refit sums are whole numbers below 2^24,
// the same whatever order the levels add them in.
#include <climits>
#include <cstddef>

#include "bc_kernels.hpp"
#include "simd_level.hpp"
#include "simd_sums.hpp"

#if defined(GPUMEM_SIMD_X86)
#include <immintrin.h>
#endif

namespace gpumem::detail {
namespace {

// Colours as [r, g, b, unused], the layout an SSE2 register fills.
using Palette = float[4][4];
using Index = std::uint8_t[kBlockTexels];

// Weight of endpoint 0 per index, in steps of 1/3 (four colours) or 1/2 (three colours, where
// index 3 takes no part in a fit).
constexpr int kFourWeights[4] = {3, 0, 2, 1};
constexpr int kThreeWeights[4] = {2, 0, 1, 0};

int expand5(int v) { return (v << 3) | (v >> 2); }
int expand6(int v) { return (v << 2) | (v >> 4); }

// The decoder's palette (s3tc_decode.cpp): entries 2 and 3 a third and two thirds of the way,
// or half way and black.
void palette_scalar(const int (&e)[2][3], bool three_colour, Palette& pal) {
  for (int ch = 0; ch < 3; ++ch) {
    const auto expand = ch == 1 ? expand6 : expand5;
    const int c0 = expand(e[0][ch]), c1 = expand(e[1][ch]);
    pal[0][ch] = static_cast<float>(c0);
    pal[1][ch] = static_cast<float>(c1);
    pal[2][ch] = static_cast<float>(three_colour ? (c0 + c1 + 1) / 2 : (2 * c0 + c1 + 1) / 3);
    pal[3][ch] = static_cast<float>(three_colour ? 0 : (c0 + 2 * c1 + 1) / 3);
  }
}

// One channel's four palette values for stepped endpoints; false when a step leaves the range.
bool stepped_channel(const int (&e)[2][3], bool three_colour, int ch, const int (&move)[2],
                     int (&values)[4]) {
  const int max = ch == 1 ? 63 : 31;
  const int q0 = e[0][ch] + move[0], q1 = e[1][ch] + move[1];
  if (q0 < 0 || q0 > max || q1 < 0 || q1 > max) return false;
  const auto expand = ch == 1 ? expand6 : expand5;
  const int c0 = expand(q0), c1 = expand(q1);
  values[0] = c0;
  values[1] = c1;
  values[2] = three_colour ? (c0 + c1 + 1) / 2 : (2 * c0 + c1 + 1) / 3;
  values[3] = three_colour ? 0 : (c0 + 2 * c1 + 1) / 3;
  return true;
}

void moves_scalar(const Bc1Texels& t, const int (&e)[2][3], bool three_colour, int entries, int ch,
                  int (&errors)[8]) {
  Palette pal;
  palette_scalar(e, three_colour, pal);
  const int a = (ch + 1) % 3, b = (ch + 2) % 3;
  float other[4][kBlockTexels];
  for (int k = 0; k < entries; ++k) {
    for (int i = 0; i < kBlockTexels; ++i) {
      const float da = 2.0F * t.c[a][i] - 2.0F * pal[k][a];
      const float db = 2.0F * t.c[b][i] - 2.0F * pal[k][b];
      other[k][i] = da * da + db * db + static_cast<float>(k);
    }
  }
  for (int m = 0; m < 8; ++m) {
    int values[4];
    errors[m] = INT_MAX;
    if (!stepped_channel(e, three_colour, ch, kBc1ChannelMoves[m], values)) continue;
    int error = 0;
    for (int i = 0; i < kBlockTexels; ++i) {
      float best = 1e30F;
      for (int k = 0; k < entries; ++k) {
        const float d = 2.0F * t.c[ch][i] - 2.0F * static_cast<float>(values[k]);
        const float key = d * d + other[k][i];
        best = key < best ? key : best;
      }
      error += (static_cast<int>(best) >> 2) & t.live[i];
    }
    errors[m] = error;
  }
}

int nearest_scalar(const Bc1Texels& t, const Palette& pal, int entries, bool three_colour,
                   Index& index, Bc1FitSums* sums) {
  int error = 0;
  for (int i = 0; i < kBlockTexels; ++i) {
    float best = 1e30F;
    for (int k = 0; k < entries; ++k) {
      const float dr = t.c[0][i] - pal[k][0];
      const float dg = t.c[1][i] - pal[k][1];
      const float db = t.c[2][i] - pal[k][2];
      const float key = (dr * dr + dg * dg + db * db) * 4.0F + static_cast<float>(k);
      best = key < best ? key : best;
    }
    const int key = static_cast<int>(best);
    index[i] = static_cast<std::uint8_t>(key & 3);
    error += (key >> 2) & t.live[i];
  }
  if (sums == nullptr) return error;
  const int* weights = three_colour ? kThreeWeights : kFourWeights;
  Bc1FitSums s{};
  for (int i = 0; i < kBlockTexels; ++i) {
    if (t.live[i] == 0 || (three_colour && index[i] == 3)) continue;
    const float w = static_cast<float>(weights[index[i]]);
    for (int ch = 0; ch < 3; ++ch) {
      s.wx[ch] += w * t.c[ch][i];
      s.x[ch] += t.c[ch][i];
    }
    s.w += w;
    s.ww += w * w;
    s.count += 1.0F;
  }
  *sums = s;
  return error;
}

#if defined(GPUMEM_SIMD_X86)

// palette_scalar() in four lanes; a division by 3 of at most 2 * 255 + 255 + 1 is exact as
// * 21846 >> 16.
void palette_sse2(const int (&e)[2][3], bool three_colour, Palette& pal) {
  const __m128i c0 = _mm_setr_epi32(expand5(e[0][0]), expand6(e[0][1]), expand5(e[0][2]), 0);
  const __m128i c1 = _mm_setr_epi32(expand5(e[1][0]), expand6(e[1][1]), expand5(e[1][2]), 0);
  const __m128i one = _mm_set1_epi32(1);
  __m128i p2, p3;
  if (three_colour) {
    p2 = _mm_srli_epi32(_mm_add_epi32(_mm_add_epi32(c0, c1), one), 1);
    p3 = _mm_setzero_si128();
  } else {
    const __m128i third = _mm_set1_epi32(21846);
    const __m128i sum = _mm_add_epi32(_mm_add_epi32(c0, c1), one);
    p2 = _mm_mulhi_epu16(_mm_add_epi32(sum, c0), third);
    p3 = _mm_mulhi_epu16(_mm_add_epi32(sum, c1), third);
  }
  _mm_storeu_ps(pal[0], _mm_cvtepi32_ps(c0));
  _mm_storeu_ps(pal[1], _mm_cvtepi32_ps(c1));
  _mm_storeu_ps(pal[2], _mm_cvtepi32_ps(p2));
  _mm_storeu_ps(pal[3], _mm_cvtepi32_ps(p3));
}

int nearest_sse2(const Bc1Texels& t, const Palette& pal, int entries, bool three_colour,
                 Index& index, Bc1FitSums* sums) {
  __m128 best[4];
  for (__m128& b : best) b = _mm_set1_ps(1e30F);
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
      best[v] = _mm_min_ps(best[v], _mm_add_ps(_mm_mul_ps(d, _mm_set1_ps(4.0F)), kf));
    }
  }
  const __m128i three = _mm_set1_epi32(3);
  __m128i keys[4], live[4], sum = _mm_setzero_si128();
  for (std::ptrdiff_t v = 0; v < 4; ++v) {
    keys[v] = _mm_cvttps_epi32(best[v]);
    live[v] = _mm_load_si128(reinterpret_cast<const __m128i*>(t.live + 4 * v));
    sum = _mm_add_epi32(sum, _mm_and_si128(_mm_srli_epi32(keys[v], 2), live[v]));
    keys[v] = _mm_and_si128(keys[v], three);
  }
  const __m128i bytes =
      _mm_packus_epi16(_mm_packs_epi32(keys[0], keys[1]), _mm_packs_epi32(keys[2], keys[3]));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(index), bytes);
  if (sums != nullptr) {
    const int* weights = three_colour ? kThreeWeights : kFourWeights;
    const __m128i w0 = _mm_set1_epi32(weights[0]);
    const __m128i w2 = _mm_set1_epi32(weights[2]);
    const __m128i w3 = _mm_set1_epi32(weights[3]);
    const __m128i two = _mm_set1_epi32(2);
    const __m128i excluded = _mm_set1_epi32(three_colour ? 3 : -1);
    __m128 wx[3] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    __m128 x[3] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    __m128 w = _mm_setzero_ps(), ww = _mm_setzero_ps(), count = _mm_setzero_ps();
    for (std::ptrdiff_t v = 0; v < 4; ++v) {
      const __m128i k = keys[v];
      const __m128 used = _mm_castsi128_ps(_mm_andnot_si128(_mm_cmpeq_epi32(k, excluded), live[v]));
      const __m128i wi =
          _mm_or_si128(_mm_or_si128(_mm_and_si128(_mm_cmpeq_epi32(k, _mm_setzero_si128()), w0),
                                    _mm_and_si128(_mm_cmpeq_epi32(k, two), w2)),
                       _mm_and_si128(_mm_cmpeq_epi32(k, three), w3));
      const __m128 wf = _mm_and_ps(_mm_cvtepi32_ps(wi), used);
      for (int ch = 0; ch < 3; ++ch) {
        const __m128 c = _mm_load_ps(t.c[ch] + 4 * v);
        wx[ch] = _mm_add_ps(wx[ch], _mm_mul_ps(wf, c));
        x[ch] = _mm_add_ps(x[ch], _mm_and_ps(c, used));
      }
      w = _mm_add_ps(w, wf);
      ww = _mm_add_ps(ww, _mm_mul_ps(wf, wf));
      count = _mm_add_ps(count, _mm_and_ps(_mm_set1_ps(1.0F), used));
    }
    for (int ch = 0; ch < 3; ++ch) {
      sums->wx[ch] = horizontal_sum(wx[ch]);
      sums->x[ch] = horizontal_sum(x[ch]);
    }
    sums->w = horizontal_sum(w);
    sums->ww = horizontal_sum(ww);
    sums->count = horizontal_sum(count);
  }
  return horizontal_sum(sum);
}

void moves_sse2(const Bc1Texels& t, const int (&e)[2][3], bool three_colour, int entries, int ch,
                int (&errors)[8]) {
  alignas(16) Palette pal;
  palette_sse2(e, three_colour, pal);
  const int a = (ch + 1) % 3, b = (ch + 2) % 3;
  const __m128 two = _mm_set1_ps(2.0F);
  __m128 other[4][4], x2[4];
  __m128i live[4];
  for (std::ptrdiff_t v = 0; v < 4; ++v) {
    x2[v] = _mm_mul_ps(two, _mm_load_ps(t.c[ch] + 4 * v));
    live[v] = _mm_load_si128(reinterpret_cast<const __m128i*>(t.live + 4 * v));
  }
  for (int k = 0; k < entries; ++k) {
    const __m128 pa = _mm_set1_ps(2.0F * pal[k][a]);
    const __m128 pb = _mm_set1_ps(2.0F * pal[k][b]);
    for (std::ptrdiff_t v = 0; v < 4; ++v) {
      const __m128 da = _mm_sub_ps(_mm_mul_ps(two, _mm_load_ps(t.c[a] + 4 * v)), pa);
      const __m128 db = _mm_sub_ps(_mm_mul_ps(two, _mm_load_ps(t.c[b] + 4 * v)), pb);
      other[k][v] = _mm_add_ps(_mm_add_ps(_mm_mul_ps(da, da), _mm_mul_ps(db, db)),
                               _mm_set1_ps(static_cast<float>(k)));
    }
  }
  for (int m = 0; m < 8; ++m) {
    int values[4];
    errors[m] = INT_MAX;
    if (!stepped_channel(e, three_colour, ch, kBc1ChannelMoves[m], values)) continue;
    __m128 best[4];
    for (__m128& bv : best) bv = _mm_set1_ps(1e30F);
    for (int k = 0; k < entries; ++k) {
      const __m128 p = _mm_set1_ps(2.0F * static_cast<float>(values[k]));
      for (std::ptrdiff_t v = 0; v < 4; ++v) {
        const __m128 d = _mm_sub_ps(x2[v], p);
        best[v] = _mm_min_ps(best[v], _mm_add_ps(_mm_mul_ps(d, d), other[k][v]));
      }
    }
    __m128i sum = _mm_setzero_si128();
    for (std::ptrdiff_t v = 0; v < 4; ++v) {
      sum =
          _mm_add_epi32(sum, _mm_and_si128(_mm_srli_epi32(_mm_cvttps_epi32(best[v]), 2), live[v]));
    }
    errors[m] = horizontal_sum(sum);
  }
}

__attribute__((target("avx2,fma"))) float horizontal_sum_avx(__m256 v) {
  return horizontal_sum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

// Texels and palette doubled, the squared distance comes out times 4 already, and with FMA each
// entry costs three subtractions, three fused multiply-adds and a min per eight texels. Still
// exact: every intermediate is a whole number below 2^24.
__attribute__((target("avx2,fma"))) int nearest_avx2(const Bc1Texels& t, const Palette& pal,
                                                     int entries, bool three_colour, Index& index,
                                                     Bc1FitSums* sums) {
  __m256 best[2] = {_mm256_set1_ps(1e30F), _mm256_set1_ps(1e30F)};
  __m256 c[3][2], c2[3][2];
  for (int ch = 0; ch < 3; ++ch) {
    c[ch][0] = _mm256_load_ps(t.c[ch]);
    c[ch][1] = _mm256_load_ps(t.c[ch] + 8);
    c2[ch][0] = _mm256_add_ps(c[ch][0], c[ch][0]);
    c2[ch][1] = _mm256_add_ps(c[ch][1], c[ch][1]);
  }
  for (int k = 0; k < entries; ++k) {
    const __m256 pr = _mm256_set1_ps(2.0F * pal[k][0]);
    const __m256 pg = _mm256_set1_ps(2.0F * pal[k][1]);
    const __m256 pb = _mm256_set1_ps(2.0F * pal[k][2]);
    const __m256 kf = _mm256_set1_ps(static_cast<float>(k));
    for (std::ptrdiff_t v = 0; v < 2; ++v) {
      const __m256 dr = _mm256_sub_ps(c2[0][v], pr);
      const __m256 dg = _mm256_sub_ps(c2[1][v], pg);
      const __m256 db = _mm256_sub_ps(c2[2][v], pb);
      const __m256 key =
          _mm256_fmadd_ps(dr, dr, _mm256_fmadd_ps(dg, dg, _mm256_fmadd_ps(db, db, kf)));
      best[v] = _mm256_min_ps(best[v], key);
    }
  }
  const __m256i three = _mm256_set1_epi32(3);
  __m256i keys[2], live[2];
  for (std::ptrdiff_t v = 0; v < 2; ++v) {
    keys[v] = _mm256_cvttps_epi32(best[v]);
    live[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(t.live + 8 * v));
  }
  const __m256i err = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(keys[0], 2), live[0]),
                                       _mm256_and_si256(_mm256_srli_epi32(keys[1], 2), live[1]));
  for (__m256i& k : keys) k = _mm256_and_si256(k, three);
  // packs works within 128-bit lanes: [0-3, 8-11, 4-7, 12-15], put back in order.
  const __m256i words =
      _mm256_permute4x64_epi64(_mm256_packs_epi32(keys[0], keys[1]), _MM_SHUFFLE(3, 1, 2, 0));
  const __m128i bytes =
      _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(index), bytes);
  if (sums != nullptr) {
    const int* weights = three_colour ? kThreeWeights : kFourWeights;
    const __m256i w0 = _mm256_set1_epi32(weights[0]);
    const __m256i w2 = _mm256_set1_epi32(weights[2]);
    const __m256i w3 = _mm256_set1_epi32(weights[3]);
    const __m256i excluded = _mm256_set1_epi32(three_colour ? 3 : -1);
    __m256 wx[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 x[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 w = _mm256_setzero_ps(), ww = _mm256_setzero_ps(), count = _mm256_setzero_ps();
    for (std::ptrdiff_t v = 0; v < 2; ++v) {
      const __m256i k = keys[v];
      const __m256 used =
          _mm256_castsi256_ps(_mm256_andnot_si256(_mm256_cmpeq_epi32(k, excluded), live[v]));
      const __m256i wi = _mm256_or_si256(
          _mm256_or_si256(_mm256_and_si256(_mm256_cmpeq_epi32(k, _mm256_setzero_si256()), w0),
                          _mm256_and_si256(_mm256_cmpeq_epi32(k, _mm256_set1_epi32(2)), w2)),
          _mm256_and_si256(_mm256_cmpeq_epi32(k, three), w3));
      const __m256 wf = _mm256_and_ps(_mm256_cvtepi32_ps(wi), used);
      for (int ch = 0; ch < 3; ++ch) {
        wx[ch] = _mm256_add_ps(wx[ch], _mm256_mul_ps(wf, c[ch][v]));
        x[ch] = _mm256_add_ps(x[ch], _mm256_and_ps(c[ch][v], used));
      }
      w = _mm256_add_ps(w, wf);
      ww = _mm256_add_ps(ww, _mm256_mul_ps(wf, wf));
      count = _mm256_add_ps(count, _mm256_and_ps(_mm256_set1_ps(1.0F), used));
    }
    for (int ch = 0; ch < 3; ++ch) {
      sums->wx[ch] = horizontal_sum_avx(wx[ch]);
      sums->x[ch] = horizontal_sum_avx(x[ch]);
    }
    sums->w = horizontal_sum_avx(w);
    sums->ww = horizontal_sum_avx(ww);
    sums->count = horizontal_sum_avx(count);
  }
  return horizontal_sum(
      _mm_add_epi32(_mm256_castsi256_si128(err), _mm256_extracti128_si256(err, 1)));
}

__attribute__((target("avx2,fma"))) void moves_avx2(const Bc1Texels& t, const int (&e)[2][3],
                                                    bool three_colour, int entries, int ch,
                                                    int (&errors)[8]) {
  alignas(16) Palette pal;
  palette_sse2(e, three_colour, pal);
  const int a = (ch + 1) % 3, b = (ch + 2) % 3;
  const __m256 two = _mm256_set1_ps(2.0F);
  __m256 other[4][2], x2[2];
  __m256i live[2];
  for (std::ptrdiff_t v = 0; v < 2; ++v) {
    x2[v] = _mm256_mul_ps(two, _mm256_load_ps(t.c[ch] + 8 * v));
    live[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(t.live + 8 * v));
  }
  for (int k = 0; k < entries; ++k) {
    const __m256 pa = _mm256_set1_ps(2.0F * pal[k][a]);
    const __m256 pb = _mm256_set1_ps(2.0F * pal[k][b]);
    for (std::ptrdiff_t v = 0; v < 2; ++v) {
      const __m256 da = _mm256_fmsub_ps(two, _mm256_load_ps(t.c[a] + 8 * v), pa);
      const __m256 db = _mm256_fmsub_ps(two, _mm256_load_ps(t.c[b] + 8 * v), pb);
      other[k][v] =
          _mm256_fmadd_ps(da, da, _mm256_fmadd_ps(db, db, _mm256_set1_ps(static_cast<float>(k))));
    }
  }
  for (int m = 0; m < 8; ++m) {
    int values[4];
    errors[m] = INT_MAX;
    if (!stepped_channel(e, three_colour, ch, kBc1ChannelMoves[m], values)) continue;
    __m256 best[2] = {_mm256_set1_ps(1e30F), _mm256_set1_ps(1e30F)};
    for (int k = 0; k < entries; ++k) {
      const __m256 p = _mm256_set1_ps(2.0F * static_cast<float>(values[k]));
      for (std::ptrdiff_t v = 0; v < 2; ++v) {
        const __m256 d = _mm256_sub_ps(x2[v], p);
        best[v] = _mm256_min_ps(best[v], _mm256_fmadd_ps(d, d, other[k][v]));
      }
    }
    const __m256i sum = _mm256_add_epi32(
        _mm256_and_si256(_mm256_srli_epi32(_mm256_cvttps_epi32(best[0]), 2), live[0]),
        _mm256_and_si256(_mm256_srli_epi32(_mm256_cvttps_epi32(best[1]), 2), live[1]));
    errors[m] = horizontal_sum(
        _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1)));
  }
}

#endif

}  // namespace

void bc1_channel_moves(const Bc1Texels& t, const int (&e)[2][3], bool three_colour, int entries,
                       int ch, int (&errors)[8]) {
#if defined(GPUMEM_SIMD_X86)
  switch (simd_level()) {
    case SimdLevel::Avx2:
      moves_avx2(t, e, three_colour, entries, ch, errors);
      return;
    case SimdLevel::Sse2:
      moves_sse2(t, e, three_colour, entries, ch, errors);
      return;
    case SimdLevel::Scalar:
      break;
  }
#endif
  moves_scalar(t, e, three_colour, entries, ch, errors);
}

int bc1_nearest(const Bc1Texels& t, const int (&e)[2][3], bool three_colour, int entries,
                std::uint8_t (&index)[kBlockTexels], Bc1FitSums* sums) {
  alignas(16) Palette palette;
#if defined(GPUMEM_SIMD_X86)
  const SimdLevel level = simd_level();
  if (level != SimdLevel::Scalar) {
    palette_sse2(e, three_colour, palette);
    return level == SimdLevel::Avx2 ? nearest_avx2(t, palette, entries, three_colour, index, sums)
                                    : nearest_sse2(t, palette, entries, three_colour, index, sums);
  }
#endif
  palette_scalar(e, three_colour, palette);
  return nearest_scalar(t, palette, entries, three_colour, index, sums);
}

}  // namespace gpumem::detail
