// bc1_nearest() at each SIMD level. A texel's squared distance to a palette colour is a whole
// number below 3 * 255^2, so the key distance * 4 + entry is exact in a float: one min over the
// keys finds the nearest entry and breaks ties towards the lower index, with no separate select,
// and every level computes exactly the same keys.
#include <cstring>

#include "bc_kernels.hpp"
#include "simd_level.hpp"

#if defined(GPUMEM_SIMD_X86)
#include <immintrin.h>
#endif

namespace gpumem::detail {
namespace {

using Planes = float[3][kBlockTexelCount];
using Live = std::int32_t[kBlockTexelCount];
using Palette = float[4][3];
using Index = std::uint8_t[kBlockTexelCount];

int nearest_scalar(const Planes& t, const Live& live, const Palette& pal, int entries,
                   Index& index) {
  int error = 0;
  for (int i = 0; i < kBlockTexelCount; ++i) {
    float best = 1e30F;
    for (int k = 0; k < entries; ++k) {
      const float dr = t[0][i] - pal[k][0];
      const float dg = t[1][i] - pal[k][1];
      const float db = t[2][i] - pal[k][2];
      const float key = (dr * dr + dg * dg + db * db) * 4.0F + static_cast<float>(k);
      best = key < best ? key : best;
    }
    const int key = static_cast<int>(best);
    index[i] = static_cast<std::uint8_t>(key & 3);
    error += (key >> 2) & live[i];
  }
  return error;
}

#if defined(GPUMEM_SIMD_X86)

int nearest_sse2(const Planes& t, const Live& live, const Palette& pal, int entries, Index& index) {
  __m128 best[4];
  for (__m128& b : best) b = _mm_set1_ps(1e30F);
  for (int k = 0; k < entries; ++k) {
    const __m128 pr = _mm_set1_ps(pal[k][0]);
    const __m128 pg = _mm_set1_ps(pal[k][1]);
    const __m128 pb = _mm_set1_ps(pal[k][2]);
    const __m128 kf = _mm_set1_ps(static_cast<float>(k));
    for (int v = 0; v < 4; ++v) {
      const __m128 dr = _mm_sub_ps(_mm_load_ps(t[0] + 4 * v), pr);
      const __m128 dg = _mm_sub_ps(_mm_load_ps(t[1] + 4 * v), pg);
      const __m128 db = _mm_sub_ps(_mm_load_ps(t[2] + 4 * v), pb);
      const __m128 d =
          _mm_add_ps(_mm_add_ps(_mm_mul_ps(dr, dr), _mm_mul_ps(dg, dg)), _mm_mul_ps(db, db));
      best[v] = _mm_min_ps(best[v], _mm_add_ps(_mm_mul_ps(d, _mm_set1_ps(4.0F)), kf));
    }
  }
  const __m128i three = _mm_set1_epi32(3);
  __m128i keys[4], sum = _mm_setzero_si128();
  for (int v = 0; v < 4; ++v) {
    keys[v] = _mm_cvttps_epi32(best[v]);
    const __m128i mask = _mm_loadu_si128(reinterpret_cast<const __m128i*>(live + 4 * v));
    sum = _mm_add_epi32(sum, _mm_and_si128(_mm_srli_epi32(keys[v], 2), mask));
    keys[v] = _mm_and_si128(keys[v], three);
  }
  const __m128i bytes =
      _mm_packus_epi16(_mm_packs_epi32(keys[0], keys[1]), _mm_packs_epi32(keys[2], keys[3]));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(index), bytes);
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

__attribute__((target("avx2"))) int nearest_avx2(const Planes& t, const Live& live,
                                                 const Palette& pal, int entries, Index& index) {
  __m256 best[2] = {_mm256_set1_ps(1e30F), _mm256_set1_ps(1e30F)};
  __m256 c[3][2];
  for (int ch = 0; ch < 3; ++ch) {
    c[ch][0] = _mm256_load_ps(t[ch]);
    c[ch][1] = _mm256_load_ps(t[ch] + 8);
  }
  for (int k = 0; k < entries; ++k) {
    const __m256 pr = _mm256_set1_ps(pal[k][0]);
    const __m256 pg = _mm256_set1_ps(pal[k][1]);
    const __m256 pb = _mm256_set1_ps(pal[k][2]);
    const __m256 kf = _mm256_set1_ps(static_cast<float>(k));
    for (int v = 0; v < 2; ++v) {
      const __m256 dr = _mm256_sub_ps(c[0][v], pr);
      const __m256 dg = _mm256_sub_ps(c[1][v], pg);
      const __m256 db = _mm256_sub_ps(c[2][v], pb);
      const __m256 d = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(dr, dr), _mm256_mul_ps(dg, dg)),
                                     _mm256_mul_ps(db, db));
      best[v] = _mm256_min_ps(best[v], _mm256_add_ps(_mm256_mul_ps(d, _mm256_set1_ps(4.0F)), kf));
    }
  }
  const __m256i k0 = _mm256_cvttps_epi32(best[0]);
  const __m256i k1 = _mm256_cvttps_epi32(best[1]);
  const __m256i m0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(live));
  const __m256i m1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(live + 8));
  const __m256i err = _mm256_add_epi32(_mm256_and_si256(_mm256_srli_epi32(k0, 2), m0),
                                       _mm256_and_si256(_mm256_srli_epi32(k1, 2), m1));
  const __m256i three = _mm256_set1_epi32(3);
  // packs works within 128-bit lanes: [0-3, 8-11, 4-7, 12-15], put back in order.
  const __m256i words = _mm256_permute4x64_epi64(
      _mm256_packs_epi32(_mm256_and_si256(k0, three), _mm256_and_si256(k1, three)),
      _MM_SHUFFLE(3, 1, 2, 0));
  const __m128i bytes =
      _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(index), bytes);
  __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(err), _mm256_extracti128_si256(err, 1));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(1, 0, 3, 2)));
  sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(sum);
}

#endif

}  // namespace

int bc1_nearest(const float (&planes)[3][kBlockTexelCount],
                const std::int32_t (&live)[kBlockTexelCount], const float (&palette)[4][3],
                int entries, std::uint8_t (&index)[kBlockTexelCount]) {
#if defined(GPUMEM_SIMD_X86)
  switch (simd_level()) {
    case SimdLevel::Avx2:
      return nearest_avx2(planes, live, palette, entries, index);
    case SimdLevel::Sse2:
      return nearest_sse2(planes, live, palette, entries, index);
    case SimdLevel::Scalar:
      break;
  }
#endif
  return nearest_scalar(planes, live, palette, entries, index);
}

}  // namespace gpumem::detail
