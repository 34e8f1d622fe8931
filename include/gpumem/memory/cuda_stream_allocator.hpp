// The stream-ordered caching allocator on one CUDA device, ready to use: it opens the device,
// keeps the device-local heap's budget, pressure and metrics, and serves
// allocate(bytes, stream) / deallocate(ptr, bytes, stream) from the page-mapped arena on CUDA
// virtual memory (2 MiB pages reused across the range), or from a block pool over cudaMalloc
// where the device has no virtual memory management (or it is turned off). The stream rules,
// the out-of-memory sequence and the release threshold are StreamOrderedAllocator's.
//
// Multi-GPU: one allocator per device; allocations on one never touch another's memory.
// enable_peer_access(n) lets device n use this device's allocations.
//
//   gpumem::CudaStreamAllocator gpu0({.device = 0});
//   void* p = gpu0.allocate(64 * gpumem::kMiB, stream);
//   kernel<<<grid, block, 0, stream>>>(p);
//   gpu0.deallocate(p, 64 * gpumem::kMiB, stream);
//
// The class exists in builds with CUDA (GPUMEM_HAS_CUDA). Thread safety: every method may be
// called from several threads at once, each thread with any current device: the calls leave it
// as they found it (the constructor excepted: it leaves the allocator's device current).
#pragma once

#include <driver_types.h>

#include <cstdint>
#include <memory>

#include "gpumem/backend/cuda_device.hpp"
#include "gpumem/backend/cuda_stream_ordering.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/pressure.hpp"
#include "gpumem/memory/heap_governor.hpp"
#include "gpumem/memory/stream_ordered_allocator.hpp"

namespace gpumem {

struct CudaAllocatorOptions {
  std::uint32_t device = 0;  // CUDA ordinal
  // Off: never the arena, always the pool over cudaMalloc (as on devices without VMM).
  bool virtual_memory = true;
  StreamAllocatorOptions stream;
  // Budgets (hard and soft limits of the device-local heap), pressure levels, driver refresh.
  Config config = Config::defaults();
};

class CudaStreamAllocator {
 public:
  // Unsupported without CUDA, InvalidArgument for a bad device or config, Error for CUDA
  // failures.
  explicit CudaStreamAllocator(const CudaAllocatorOptions& options = {});
  ~CudaStreamAllocator();
  CudaStreamAllocator(const CudaStreamAllocator&) = delete;
  CudaStreamAllocator& operator=(const CudaStreamAllocator&) = delete;

  void* allocate(std::uint64_t bytes, cudaStream_t stream = nullptr);
  void deallocate(void* ptr, std::uint64_t bytes, cudaStream_t stream = nullptr);
  void trim() { allocator_->trim(); }
  void forget_stream(cudaStream_t stream);
  std::size_t on_out_of_memory(StreamOrderedAllocator::OutOfMemoryCallback callback) {
    return allocator_->on_out_of_memory(std::move(callback));
  }
  PressureSubscribers::Id on_pressure(PressureCallback callback) {
    return subscribers_.subscribe(std::move(callback));
  }
  void enable_peer_access(std::uint32_t peer) { device_->enable_peer_access(peer); }

  StreamAllocatorStats stats() const { return allocator_->stats(); }
  // The recorder's figures completed with the device-local heap's budget, driver figures and
  // pressure from this allocator's governor (the one every byte it takes passes).
  MetricsSnapshot metrics() const;
  const HeapGovernor& governor() const noexcept { return *governor_; }
  std::string_view backing_name() const noexcept { return allocator_->backing_name(); }
  const HeapAllocator& backing() const noexcept { return allocator_->backing(); }
  CudaDevice& device() noexcept { return *device_; }

 private:
  Config config_;
  std::unique_ptr<CudaDevice> device_;
  std::unique_ptr<MetricsRecorder> metrics_;
  PressureSubscribers subscribers_;
  std::unique_ptr<HeapGovernor> governor_;
  std::unique_ptr<CudaStreamOrdering> ordering_;
  std::unique_ptr<StreamOrderedAllocator> allocator_;
};

}  // namespace gpumem
