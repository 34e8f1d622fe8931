// bc4_nearest8() at each SIMD level, in 16-bit integers without division. The eight values are
// evenly spread from e1 to e0: a texel d = v - e1 above e1 lies at 7d/r sevenths (r = e0 - e1),
// whose floor q a multiply by a rounded-up reciprocal gives or overshoots by one only where the
// fraction is above 0.97; the nearer of the values at q and q + 1 is then the nearest value.
// A value is (7 e1 + p r + 3) / 7, the division done as * 9363 >> 16 (exact up to 7 * 255 + 3).
#include <algorithm>
#include <array>
#include <cstddef>

#include "bc_kernels.hpp"
#include "simd_level.hpp"
#include "simd_sums.hpp"

#if defined(GPUMEM_SIMD_X86)
#include <immintrin.h>
#endif

namespace gpumem::detail {
namespace {

using Values = std::uint8_t[kBlockTexels];
using Index = std::uint8_t[kBlockTexels];

// ceil(65536 / r), 65535 for r = 1 (the q + 1 candidate covers the undershoot there).
struct Reciprocals {
  std::array<std::uint16_t, 256> of{};
  Reciprocals() {
    for (std::size_t r = 1; r < of.size(); ++r) {
      of[r] = static_cast<std::uint16_t>(std::min<std::size_t>(65535, (65535 + r) / r));
    }
  }
};

std::uint16_t reciprocal(int range) {
  static const Reciprocals kTable;
  return kTable.of[static_cast<std::size_t>(range)];
}

int value_at(int base, int p, int r) { return ((base + p * r) * 9363) >> 16; }

// Position p (sevenths up from e1) to BC4 index: 0 is e0 (p = 7), 1 is e1 (p = 0), 8 - p between.
int index_of(int p) { return ((8 - p) & 7) ^ (p == 0 || p == 7 ? 1 : 0); }

Bc4Range load_scalar(const std::uint8_t* rgba, int channel, Values& values) {
  Bc4Range range{255, 0};
  for (int i = 0; i < kBlockTexels; ++i) {
    values[i] = rgba[i * 4 + channel];
    range.lo = std::min<int>(range.lo, values[i]);
    range.hi = std::max<int>(range.hi, values[i]);
  }
  return range;
}

int nearest_scalar(const Values& v, int e0, int e1, Index& index) {
  const int r = e0 - e1;
  const int m = reciprocal(r);
  const int base = 7 * e1 + 3;
  int error = 0;
  for (int i = 0; i < kBlockTexels; ++i) {
    const int d = std::clamp(v[i] - e1, 0, r);
    const int q = (7 * d * m) >> 16;
    const int q1 = std::min(q + 1, 7);
    const int a0 = std::abs(v[i] - value_at(base, q, r));
    const int a1 = std::abs(v[i] - value_at(base, q1, r));
    const int p = a1 < a0 ? q1 : q;
    const int a = std::min(a0, a1);
    error += a * a;
    index[i] = static_cast<std::uint8_t>(index_of(p));
  }
  return error;
}

#if defined(GPUMEM_SIMD_X86)

Bc4Range load_sse2(const std::uint8_t* rgba, int channel, Values& values) {
  const __m128i shift = _mm_cvtsi32_si128(8 * channel);
  const __m128i byte = _mm_set1_epi32(0xFF);
  __m128i words[4];
  for (std::ptrdiff_t v = 0; v < 4; ++v) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rgba + 16 * v));
    words[v] = _mm_and_si128(_mm_srl_epi32(x, shift), byte);
  }
  const __m128i bytes =
      _mm_packus_epi16(_mm_packs_epi32(words[0], words[1]), _mm_packs_epi32(words[2], words[3]));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(values), bytes);
  __m128i lo = _mm_min_epu8(bytes, _mm_srli_si128(bytes, 8));
  __m128i hi = _mm_max_epu8(bytes, _mm_srli_si128(bytes, 8));
  for (int step : {4, 2, 1}) {
    const __m128i s = _mm_cvtsi32_si128(8 * step);
    lo = _mm_min_epu8(lo, _mm_srl_epi64(lo, s));
    hi = _mm_max_epu8(hi, _mm_srl_epi64(hi, s));
  }
  return {_mm_cvtsi128_si32(lo) & 0xFF, _mm_cvtsi128_si32(hi) & 0xFF};
}

// Eight texels in 16-bit lanes; returns their positions' BC4 indices and adds their squared errors
// (as 32-bit pair sums) to `sum`.
__m128i nearest8_sse2(__m128i v, __m128i e1, __m128i r, __m128i m, __m128i base, __m128i& sum) {
  const __m128i zero = _mm_setzero_si128();
  const __m128i seven = _mm_set1_epi16(7);
  const __m128i magic = _mm_set1_epi16(9363);
  const __m128i d = _mm_min_epi16(_mm_max_epi16(_mm_sub_epi16(v, e1), zero), r);
  const __m128i q = _mm_mulhi_epu16(_mm_mullo_epi16(d, seven), m);
  const __m128i q1 = _mm_min_epi16(_mm_add_epi16(q, _mm_set1_epi16(1)), seven);
  const __m128i d0 =
      _mm_sub_epi16(v, _mm_mulhi_epu16(_mm_add_epi16(base, _mm_mullo_epi16(q, r)), magic));
  const __m128i d1 =
      _mm_sub_epi16(v, _mm_mulhi_epu16(_mm_add_epi16(base, _mm_mullo_epi16(q1, r)), magic));
  const __m128i a0 = _mm_max_epi16(d0, _mm_sub_epi16(zero, d0));
  const __m128i a1 = _mm_max_epi16(d1, _mm_sub_epi16(zero, d1));
  const __m128i take1 = _mm_cmpgt_epi16(a0, a1);
  const __m128i p = _mm_or_si128(_mm_and_si128(take1, q1), _mm_andnot_si128(take1, q));
  const __m128i a = _mm_min_epi16(a0, a1);
  sum = _mm_add_epi32(sum, _mm_madd_epi16(a, a));
  const __m128i ends = _mm_or_si128(_mm_cmpeq_epi16(p, zero), _mm_cmpeq_epi16(p, seven));
  return _mm_xor_si128(_mm_and_si128(_mm_sub_epi16(_mm_set1_epi16(8), p), seven),
                       _mm_and_si128(ends, _mm_set1_epi16(1)));
}

int nearest_sse2(const Values& v, int e0, int e1, Index& index) {
  const int r = e0 - e1;
  const __m128i e1v = _mm_set1_epi16(static_cast<short>(e1));
  const __m128i rv = _mm_set1_epi16(static_cast<short>(r));
  const __m128i mv = _mm_set1_epi16(static_cast<short>(reciprocal(r)));
  const __m128i base = _mm_set1_epi16(static_cast<short>(7 * e1 + 3));
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v));
  const __m128i zero = _mm_setzero_si128();
  __m128i sum = zero;
  const __m128i lo = nearest8_sse2(_mm_unpacklo_epi8(bytes, zero), e1v, rv, mv, base, sum);
  const __m128i hi = nearest8_sse2(_mm_unpackhi_epi8(bytes, zero), e1v, rv, mv, base, sum);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(index), _mm_packus_epi16(lo, hi));
  return horizontal_sum(sum);
}

// All sixteen texels in one register; the same steps as nearest8_sse2.
__attribute__((target("avx2"))) int nearest_avx2(const Values& v, int e0, int e1, Index& index) {
  const int r = e0 - e1;
  const __m256i e1v = _mm256_set1_epi16(static_cast<short>(e1));
  const __m256i rv = _mm256_set1_epi16(static_cast<short>(r));
  const __m256i m = _mm256_set1_epi16(static_cast<short>(reciprocal(r)));
  const __m256i base = _mm256_set1_epi16(static_cast<short>(7 * e1 + 3));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i seven = _mm256_set1_epi16(7);
  const __m256i magic = _mm256_set1_epi16(9363);
  const __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v)));
  const __m256i d = _mm256_min_epi16(_mm256_max_epi16(_mm256_sub_epi16(x, e1v), zero), rv);
  const __m256i q = _mm256_mulhi_epu16(_mm256_mullo_epi16(d, seven), m);
  const __m256i q1 = _mm256_min_epi16(_mm256_add_epi16(q, _mm256_set1_epi16(1)), seven);
  const __m256i d0 = _mm256_sub_epi16(
      x, _mm256_mulhi_epu16(_mm256_add_epi16(base, _mm256_mullo_epi16(q, rv)), magic));
  const __m256i d1 = _mm256_sub_epi16(
      x, _mm256_mulhi_epu16(_mm256_add_epi16(base, _mm256_mullo_epi16(q1, rv)), magic));
  const __m256i a0 = _mm256_abs_epi16(d0);
  const __m256i a1 = _mm256_abs_epi16(d1);
  const __m256i take1 = _mm256_cmpgt_epi16(a0, a1);
  const __m256i p = _mm256_blendv_epi8(q, q1, take1);
  const __m256i a = _mm256_min_epi16(a0, a1);
  const __m256i sq = _mm256_madd_epi16(a, a);
  const __m256i ends = _mm256_or_si256(_mm256_cmpeq_epi16(p, zero), _mm256_cmpeq_epi16(p, seven));
  const __m256i idx =
      _mm256_xor_si256(_mm256_and_si256(_mm256_sub_epi16(_mm256_set1_epi16(8), p), seven),
                       _mm256_and_si256(ends, _mm256_set1_epi16(1)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(index),
                   _mm_packus_epi16(_mm256_castsi256_si128(idx), _mm256_extracti128_si256(idx, 1)));
  return horizontal_sum(_mm_add_epi32(_mm256_castsi256_si128(sq), _mm256_extracti128_si256(sq, 1)));
}

#endif

}  // namespace

Bc4Range bc4_load(const std::uint8_t* rgba, int channel, std::uint8_t (&values)[kBlockTexels]) {
#if defined(GPUMEM_SIMD_X86)
  if (simd_level() != SimdLevel::Scalar) return load_sse2(rgba, channel, values);
#endif
  return load_scalar(rgba, channel, values);
}

int bc4_nearest8(const std::uint8_t (&values)[kBlockTexels], int e0, int e1,
                 std::uint8_t (&index)[kBlockTexels]) {
#if defined(GPUMEM_SIMD_X86)
  switch (simd_level()) {
    case SimdLevel::Avx2:
      return nearest_avx2(values, e0, e1, index);
    case SimdLevel::Sse2:
      return nearest_sse2(values, e0, e1, index);
    case SimdLevel::Scalar:
      break;
  }
#endif
  return nearest_scalar(values, e0, e1, index);
}

}  // namespace gpumem::detail
