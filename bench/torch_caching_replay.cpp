// PyTorch's CUDA caching allocator behind five C functions, so bench/gpu_allocators can replay
// the same traces with it (`--torch-caching libgpumem_torch_caching.so`) without gpumem's build
// depending on PyTorch. c10's raw_alloc/raw_delete are inline calls through a virtual interface
// in PyTorch's headers, so this file is compiled against an installed PyTorch:
//
//   scripts/build-torch-bench.sh .device/torch     # on a machine with torch; writes the .so
//   ./build/bench/gpu_allocators --traces bench/traces --torch-caching
//   .device/torch/libgpumem_torch_caching.so
//
// Everything runs on device 0 and PyTorch's current stream (the legacy default stream unless
// the caller changed it), as the traces were recorded. Failures never throw across the C
// boundary: allocation returns null (the message goes to stderr), the others return nonzero.
// Thread safety: as c10's allocator, except that gpumem_torch_caching_init() must come first.
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>

#define GPUMEM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

namespace caching = c10::cuda::CUDACachingAllocator;

constexpr c10::DeviceIndex kDevice = 0;

// Runs `f`, reporting an exception on stderr as `what` failed; returns 0 on success.
template <typename F>
int guarded(const char* what, F&& f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torch_caching_replay: %s: %s\n", what, e.what());
    return 1;
  }
}

}  // namespace

// Sets the allocator up for every device (what torch.cuda does on its lazy init); first.
GPUMEM_EXPORT int gpumem_torch_caching_init() {
  return guarded("init", [] { caching::init(c10::cuda::device_count()); });
}

// PyTorch's version string, for the bench's report.
GPUMEM_EXPORT const char* gpumem_torch_caching_version() {
#ifdef GPUMEM_TORCH_VERSION
  return GPUMEM_TORCH_VERSION;  // set by scripts/build-torch-bench.sh
#else
  return "unknown";
#endif
}

GPUMEM_EXPORT void* gpumem_torch_caching_alloc(std::uint64_t bytes) {
  void* p = nullptr;
  guarded("raw_alloc", [&] { p = caching::raw_alloc(static_cast<std::size_t>(bytes)); });
  return p;
}

GPUMEM_EXPORT int gpumem_torch_caching_free(void* p) {
  return guarded("raw_delete", [&] { caching::raw_delete(p); });
}

// Empties the cache (after synchronising the device, so every block can go back) and resets the
// peaks: the state "from an empty pool".
GPUMEM_EXPORT int gpumem_torch_caching_empty() {
  return guarded("empty", [] {
    c10::cuda::device_synchronize();
    caching::emptyCache();
    caching::resetPeakStats(kDevice);
  });
}

// The peak reserved bytes since the last gpumem_torch_caching_empty(), or 0 when unknown.
GPUMEM_EXPORT std::uint64_t gpumem_torch_caching_peak_reserved() {
  std::uint64_t peak = 0;
  guarded("getDeviceStats", [&] {
    const caching::DeviceStats s = caching::getDeviceStats(kDevice);
    // Index 0 is StatType::AGGREGATE, whose namespace moved between PyTorch versions.
    peak = static_cast<std::uint64_t>(s.reserved_bytes[0].peak);
  });
  return peak;
}
