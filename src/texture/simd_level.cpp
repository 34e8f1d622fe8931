#include "simd_level.hpp"

#include <algorithm>
#include <atomic>

namespace gpumem::detail {
namespace {

SimdLevel detect() noexcept {
#if defined(GPUMEM_SIMD_X86)
  __builtin_cpu_init();
  // The AVX2 kernels use FMA too (every AVX2 CPU so far has it; checked all the same).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? SimdLevel::Avx2
                                                                         : SimdLevel::Sse2;
#else
  return SimdLevel::Scalar;
#endif
}

std::atomic<SimdLevel>& current() noexcept {
  static std::atomic<SimdLevel> level{detected_simd_level()};
  return level;
}

}  // namespace

SimdLevel detected_simd_level() noexcept {
  static const SimdLevel kDetected = detect();
  return kDetected;
}

SimdLevel simd_level() noexcept { return current().load(std::memory_order_relaxed); }

SimdLevel set_simd_level(SimdLevel level) noexcept {
  const SimdLevel used = std::min(level, detected_simd_level());
  current().store(used, std::memory_order_relaxed);
  return used;
}

const char* to_string(SimdLevel level) noexcept {
  switch (level) {
    case SimdLevel::Scalar:
      return "scalar";
    case SimdLevel::Sse2:
      return "sse2";
    case SimdLevel::Avx2:
      return "avx2";
  }
  return "unknown";
}

}  // namespace gpumem::detail
