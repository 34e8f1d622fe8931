// The SIMD instruction set the BCn encoders' kernels run on. The build targets baseline x86-64
// (SSE2); wider kernels are compiled per function with __attribute__((target("avx2,fma"))) and
// picked at run time from what the CPU reports (__builtin_cpu_supports). Every level produces
// bit-identical blocks (the kernels do exact integer-valued arithmetic), which the tests check
// by forcing each level in turn:
//
//   detail::set_simd_level(detail::SimdLevel::Scalar);  // e.g. in a test
//   auto blocks = encode_bc(view, format, options);      // now runs the portable code
//
// Thread-safety: simd_level() may be called from any thread; set_simd_level() is meant for tests
// and must not run while an encode does (an encode could then mix levels, harmlessly but
// untestably).
#pragma once

// x86-64 builds carry the SSE2 and AVX2 kernels; elsewhere only the scalar ones exist.
#if defined(__x86_64__) && defined(__SSE2__)
#define GPUMEM_SIMD_X86 1
#endif

namespace gpumem::detail {

enum class SimdLevel : int { Scalar = 0, Sse2 = 1, Avx2 = 2 };

// The best level this CPU (and this build's target architecture) supports.
SimdLevel detected_simd_level() noexcept;

// The level the kernels use now: the detected one unless set_simd_level() lowered it.
SimdLevel simd_level() noexcept;

// Uses `level`, or the detected level if that is lower; returns the level now in use.
SimdLevel set_simd_level(SimdLevel level) noexcept;

const char* to_string(SimdLevel level) noexcept;

}  // namespace gpumem::detail
