// gpumem's stream-ordered allocator as PyTorch's CUDA allocator, through
// torch.cuda.memory.CUDAPluggableAllocator. One CudaStreamAllocator per device, made on the
// device's first allocation; PyTorch's streams are CUDA streams, so its stream semantics carry
// over unchanged. Out of memory returns null, which PyTorch turns into its own OutOfMemoryError
// (gpumem's message, with the facts, goes to stderr first).
//
//   import torch
//   a = torch.cuda.memory.CUDAPluggableAllocator("libgpumem_torch_alloc.so", "gpumem_malloc",
//                                                "gpumem_free")
//   torch.cuda.memory.change_current_allocator(a)  # before the first CUDA allocation
//
// Environment: GPUMEM_TORCH_VMM=0 uses the pool over cudaMalloc instead of the arena;
// GPUMEM_TORCH_RELEASE_THRESHOLD=<bytes> bounds the cache (default: keep everything);
// GPUMEM_TORCH_IDLE_SLACK=<0..1> sets StreamAllocatorOptions::idle_slack_fraction (default 0
// here); GPUMEM_TORCH_MAX_PIECE=<bytes> sets StreamAllocatorOptions::max_piece_bytes (default
// 2 MiB here: footprint first, see options_for);
// GPUMEM_TORCH_TRACE=<path> records every allocation and free the program makes, in gpumem's
// trace format (gzip-compressed when the path ends in .gz), written out at exit, so that
// `gpumem replay` and the benchmarks can replay the program's allocations without it.
// Thread safety: every function may be called from any thread at once.
#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <sys/types.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>

#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/memory/cuda_stream_allocator.hpp"

#define GPUMEM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kMaxDevices = 64;

struct Devices {
  std::array<std::once_flag, kMaxDevices> made;
  std::array<std::unique_ptr<gpumem::CudaStreamAllocator>, kMaxDevices> allocators;
};

Devices& devices() {
  // Never destroyed: PyTorch frees tensors from static destructors at exit, after which a
  // destroyed allocator would be called.
  static Devices* d = new Devices;
  return *d;
}

// Called under the device's once_flag; getenv races only with setenv, which gpumem never calls.
gpumem::CudaAllocatorOptions options_for(int device) {
  gpumem::CudaAllocatorOptions o;
  o.device = static_cast<std::uint32_t>(device);
  // Footprint first: a training loop makes its memory in the first steps and reuses it for
  // thousands more, so pages of 2 MiB that move where they are needed (with no idle slack) cost
  // ~42 us each once, and in exchange its peak reserved stays lowest. On the small model of
  // examples/pytorch (replayed on the simulator): 474 MiB against 494 MiB with the stream
  // allocator's own defaults (pieces up to 1 GiB, idle slack 1) and PyTorch's 478 MiB, with
  // three page moves in all, in the first step. docs/PERFORMANCE.md has the measurements.
  o.stream = gpumem::StreamAllocatorOptions::footprint_first();
  // NOLINTNEXTLINE(concurrency-mt-unsafe): see above
  if (const char* vmm = std::getenv("GPUMEM_TORCH_VMM"); vmm != nullptr && vmm[0] == '0') {
    o.virtual_memory = false;
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): see above
  if (const char* t = std::getenv("GPUMEM_TORCH_RELEASE_THRESHOLD"); t != nullptr) {
    o.stream.release_threshold = std::strtoull(t, nullptr, 10);
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): see above
  if (const char* slack = std::getenv("GPUMEM_TORCH_IDLE_SLACK"); slack != nullptr) {
    o.stream.idle_slack_fraction = std::strtod(slack, nullptr);
  }
  // NOLINTNEXTLINE(concurrency-mt-unsafe): see above
  if (const char* piece = std::getenv("GPUMEM_TORCH_MAX_PIECE"); piece != nullptr) {
    o.stream.max_piece_bytes = std::strtoull(piece, nullptr, 10);
  }
  return o;
}

// The device's allocator, made on first use; null (reported) when it cannot be made.
gpumem::CudaStreamAllocator* allocator(int device) {
  if (device < 0 || device >= kMaxDevices) return nullptr;
  Devices& d = devices();
  const auto index = static_cast<std::size_t>(device);
  try {
    std::call_once(d.made[index], [&] {
      d.allocators[index] = std::make_unique<gpumem::CudaStreamAllocator>(options_for(device));
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpumem_torch_alloc: device %d: %s\n", device, e.what());
    return nullptr;
  }
  return d.allocators[index].get();
}

// The recorder GPUMEM_TORCH_TRACE asks for, or null. Never destroyed, as the allocators are: it
// is finished at exit instead, and what PyTorch frees after that is not recorded.
gpumem::TraceRecorder* recorder() {
  static gpumem::TraceRecorder* const r = []() -> gpumem::TraceRecorder* {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, under the static's initialisation
    const char* path = std::getenv("GPUMEM_TORCH_TRACE");
    if (path == nullptr || path[0] == '\0') return nullptr;
    try {
      auto* made = new gpumem::TraceRecorder(path, "pytorch", "(gpumem torch plug-in)");
      std::atexit([] {
        try {
          recorder()->finish();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "gpumem_torch_alloc: writing the trace failed: %s\n", e.what());
        }
      });
      return made;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gpumem_torch_alloc: GPUMEM_TORCH_TRACE: %s\n", e.what());
      return nullptr;
    }
  }();
  return r;
}

// Records with the pointer as the id (unique while live); after finish() recording throws,
// which only means the program is exiting.
void record_allocate(void* ptr, std::uint64_t bytes, cudaStream_t stream) {
  gpumem::TraceRecorder* r = recorder();
  if (r == nullptr || ptr == nullptr) return;
  try {
    r->on_allocate(reinterpret_cast<std::uint64_t>(ptr), bytes,
                   reinterpret_cast<std::uint64_t>(stream));
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see above
  }
}

void record_free(void* ptr) {
  gpumem::TraceRecorder* r = recorder();
  if (r == nullptr || ptr == nullptr) return;
  try {
    r->on_free(reinterpret_cast<std::uint64_t>(ptr));
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see record_allocate
  }
}

}  // namespace

GPUMEM_EXPORT void* gpumem_malloc(ssize_t size, int device, cudaStream_t stream) {
  gpumem::CudaStreamAllocator* a = allocator(device);
  if (a == nullptr || size < 0) return nullptr;
  try {
    void* ptr = a->allocate(static_cast<std::uint64_t>(size), stream);
    record_allocate(ptr, static_cast<std::uint64_t>(size), stream);
    return ptr;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpumem_torch_alloc: %s\n", e.what());
    return nullptr;
  }
}

GPUMEM_EXPORT void gpumem_free(void* ptr, ssize_t size, int device, cudaStream_t stream) {
  gpumem::CudaStreamAllocator* a = allocator(device);
  if (a == nullptr || size < 0) return;
  try {
    record_free(ptr);  // before the memory can go to another thread's allocation
    a->deallocate(ptr, static_cast<std::uint64_t>(size), stream);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpumem_torch_alloc: %s\n", e.what());
  }
}

// Writes what GPUMEM_TORCH_TRACE has recorded so far to its file; 0 when done or when nothing
// is being recorded, -1 (reported) when the write failed.
GPUMEM_EXPORT int gpumem_trace_flush() {
  gpumem::TraceRecorder* r = recorder();
  if (r == nullptr) return 0;
  try {
    r->flush();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpumem_torch_alloc: writing the trace failed: %s\n", e.what());
    return -1;
  }
}

// Gives the cached memory of every device that has an allocator back to the driver.
GPUMEM_EXPORT void gpumem_trim() {
  for (const auto& a : devices().allocators) {
    if (a) a->trim();
  }
}

// The device's figures as one JSON object written into `out` (at most `capacity` bytes with the
// terminating zero); returns the length it needed, or -1 when the device has no allocator yet.
GPUMEM_EXPORT long gpumem_stats_json(int device, char* out, unsigned long capacity) {
  if (device < 0 || device >= kMaxDevices) return -1;
  gpumem::CudaStreamAllocator* a = devices().allocators[static_cast<std::size_t>(device)].get();
  if (a == nullptr) return -1;
  const gpumem::StreamAllocatorStats s = a->stats();
  const std::string json = fmt::format(
      "{{\"device\":{},\"backing\":\"{}\",\"reserved_bytes\":{},\"peak_reserved_bytes\":{},"
      "\"live_bytes\":{},\"live_count\":{},\"cached_bytes\":{},\"streams\":{},"
      "\"stream_waits\":{},\"event_waits\":{},\"synchronizations\":{},\"out_of_memory_retries\":{},"
      "\"metrics\":{}}}",
      device, a->backing_name(), s.heap.reserved_bytes, s.heap.peak_reserved_bytes,
      s.heap.live_bytes, s.heap.live_count, s.heap.cached_bytes, s.streams, s.stream_waits,
      s.event_waits, s.synchronizations, s.out_of_memory_retries, gpumem::to_json(a->metrics()));
  if (out != nullptr && capacity != 0) {
    const std::size_t n = std::min<std::size_t>(json.size(), capacity - 1);
    std::memcpy(out, json.data(), n);
    out[n] = '\0';
  }
  return static_cast<long>(json.size());
}
