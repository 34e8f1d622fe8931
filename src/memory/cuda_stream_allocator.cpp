#include "gpumem/memory/cuda_stream_allocator.hpp"

#include <utility>

#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

StreamHandle handle_of(cudaStream_t stream) { return reinterpret_cast<StreamHandle>(stream); }

}  // namespace

CudaStreamAllocator::CudaStreamAllocator(const CudaAllocatorOptions& options)
    : config_(options.config) {
  config_.validate();
  CudaDeviceConfig device;
  device.ordinal = options.device;
  device.virtual_memory = options.virtual_memory;
  // Small: the allocator serves device memory only, and pinned memory is taken on use anyway.
  device.pinned_host_bytes = 64 * kMiB;
  device_ = std::make_unique<CudaDevice>(device);
  metrics_ = std::make_unique<MetricsRecorder>(device_->info().heaps);
  governor_ = std::make_unique<HeapGovernor>(*device_, CudaDevice::kDeviceLocalHeap, config_,
                                             *metrics_, subscribers_);
  // The budget starts from the driver's figures (what other processes use is not ours to take).
  governor_->refresh();
  ordering_ = std::make_unique<CudaStreamOrdering>(static_cast<int>(options.device));
  allocator_ = std::make_unique<StreamOrderedAllocator>(*governor_, *ordering_, options.stream);
}

CudaStreamAllocator::~CudaStreamAllocator() = default;

void* CudaStreamAllocator::allocate(std::uint64_t bytes, cudaStream_t stream) {
  return allocator_->allocate(bytes, handle_of(stream));
}

void CudaStreamAllocator::deallocate(void* ptr, std::uint64_t bytes, cudaStream_t stream) {
  allocator_->deallocate(ptr, bytes, handle_of(stream));
}

MetricsSnapshot CudaStreamAllocator::metrics() const {
  MetricsSnapshot snapshot = metrics_->snapshot();
  for (HeapFigures& h : snapshot.heaps) {
    if (h.heap != governor_->heap().index) continue;
    governor_->describe(h);
    snapshot.within_budget = snapshot.within_budget && h.within_budget;
  }
  return snapshot;
}

void CudaStreamAllocator::forget_stream(cudaStream_t stream) {
  allocator_->forget_stream(handle_of(stream));
}

}  // namespace gpumem
