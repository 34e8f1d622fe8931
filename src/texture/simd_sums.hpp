// Horizontal sums of SSE2 registers, shared by the BCn kernels (x86-64 builds only).
#pragma once

#include "simd_level.hpp"

#if defined(GPUMEM_SIMD_X86)
#include <emmintrin.h>

namespace gpumem::detail {

inline float horizontal_sum(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_shuffle_ps(v, v, 1));
  return _mm_cvtss_f32(v);
}

inline int horizontal_sum(__m128i v) {
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(v);
}

}  // namespace gpumem::detail

#endif
