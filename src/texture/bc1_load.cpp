// bc1_load(): RGBA8 texels to float planes plus the sums the principal axis needs, in SSE2 (four
// texels per register; every x86-64 CPU has it) or portable scalar code. All values are whole
// numbers below 2^24, so the two give the same floats whatever order they add in.
#include <cstddef>
#include <cstring>

#include "bc_kernels.hpp"
#include "simd_level.hpp"
#include "simd_sums.hpp"

#if defined(GPUMEM_SIMD_X86)
#include <emmintrin.h>
#endif

namespace gpumem::detail {
namespace {

void load_scalar(const std::uint8_t* rgba, bool alpha_matters, Bc1Texels& t) {
  float sum[3] = {}, prod[6] = {};
  int live_count = 0;
  bool solid = true;
  for (int i = 0; i < kBlockTexels; ++i) {
    const std::uint8_t* texel = rgba + std::ptrdiff_t{i} * 4;
    const float r = texel[0], g = texel[1], b = texel[2];
    t.c[0][i] = r;
    t.c[1][i] = g;
    t.c[2][i] = b;
    const bool live = !alpha_matters || texel[3] >= 128;
    t.live[i] = live ? -1 : 0;
    solid = solid && std::memcmp(rgba, texel, 3) == 0;
    if (!live) continue;
    ++live_count;
    sum[0] += r, sum[1] += g, sum[2] += b;
    prod[0] += r * r, prod[1] += r * g, prod[2] += r * b;
    prod[3] += g * g, prod[4] += g * b, prod[5] += b * b;
  }
  t.live_count = live_count;
  t.solid = solid;
  std::memcpy(t.sum, sum, sizeof(sum));
  std::memcpy(t.products, prod, sizeof(prod));
}

#if defined(GPUMEM_SIMD_X86)

void load_sse2(const std::uint8_t* rgba, bool alpha_matters, Bc1Texels& t) {
  const __m128i byte = _mm_set1_epi32(0xFF);
  const __m128i rgb = _mm_set1_epi32(0xFFFFFF);
  std::int32_t first = 0;
  std::memcpy(&first, rgba, 4);
  const __m128i first_rgb = _mm_and_si128(_mm_set1_epi32(first), rgb);
  const __m128i threshold = _mm_set1_epi32(alpha_matters ? 128 : 0);
  __m128 sum[3] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
  __m128 prod[6];
  for (__m128& p : prod) p = _mm_setzero_ps();
  int same = 0xFFFF, live_bits = 0;
  for (std::ptrdiff_t v = 0; v < 4; ++v) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rgba + 16 * v));
    same &= _mm_movemask_epi8(_mm_cmpeq_epi32(_mm_and_si128(x, rgb), first_rgb));
    const __m128i alpha = _mm_srli_epi32(x, 24);
    const __m128i live = _mm_xor_si128(_mm_cmplt_epi32(alpha, threshold), _mm_set1_epi32(-1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(t.live + 4 * v), live);
    live_bits |= _mm_movemask_ps(_mm_castsi128_ps(live)) << (4 * v);
    const __m128 r = _mm_cvtepi32_ps(_mm_and_si128(x, byte));
    const __m128 g = _mm_cvtepi32_ps(_mm_and_si128(_mm_srli_epi32(x, 8), byte));
    const __m128 b = _mm_cvtepi32_ps(_mm_and_si128(_mm_srli_epi32(x, 16), byte));
    _mm_store_ps(t.c[0] + 4 * v, r);
    _mm_store_ps(t.c[1] + 4 * v, g);
    _mm_store_ps(t.c[2] + 4 * v, b);
    const __m128 mask = _mm_castsi128_ps(live);
    const __m128 lr = _mm_and_ps(r, mask), lg = _mm_and_ps(g, mask), lb = _mm_and_ps(b, mask);
    sum[0] = _mm_add_ps(sum[0], lr);
    sum[1] = _mm_add_ps(sum[1], lg);
    sum[2] = _mm_add_ps(sum[2], lb);
    prod[0] = _mm_add_ps(prod[0], _mm_mul_ps(lr, r));
    prod[1] = _mm_add_ps(prod[1], _mm_mul_ps(lr, g));
    prod[2] = _mm_add_ps(prod[2], _mm_mul_ps(lr, b));
    prod[3] = _mm_add_ps(prod[3], _mm_mul_ps(lg, g));
    prod[4] = _mm_add_ps(prod[4], _mm_mul_ps(lg, b));
    prod[5] = _mm_add_ps(prod[5], _mm_mul_ps(lb, b));
  }
  t.live_count = __builtin_popcount(static_cast<unsigned>(live_bits));
  t.solid = same == 0xFFFF;
  for (int ch = 0; ch < 3; ++ch) t.sum[ch] = horizontal_sum(sum[ch]);
  for (int k = 0; k < 6; ++k) t.products[k] = horizontal_sum(prod[k]);
}

#endif

}  // namespace

void bc1_load(const std::uint8_t* rgba, bool alpha_matters, Bc1Texels& t) {
#if defined(GPUMEM_SIMD_X86)
  if (simd_level() != SimdLevel::Scalar) {
    load_sse2(rgba, alpha_matters, t);
    return;
  }
#endif
  load_scalar(rgba, alpha_matters, t);
}

}  // namespace gpumem::detail
