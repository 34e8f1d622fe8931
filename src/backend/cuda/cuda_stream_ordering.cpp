#include "gpumem/backend/cuda_stream_ordering.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <string>

#include "backend/cuda/cuda_check.hpp"
#include "gpumem/backend/cuda_device.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

cudaEvent_t as_event(EventHandle e) { return reinterpret_cast<cudaEvent_t>(e); }
cudaStream_t as_stream(StreamHandle s) { return reinterpret_cast<cudaStream_t>(s); }

}  // namespace

CudaStreamOrdering::CudaStreamOrdering(int ordinal) : ordinal_(ordinal) {
  const CudaAvailability& cuda = cuda_availability();
  if (!cuda.available) throw Unsupported("cuda: unavailable: " + cuda.detail);
}

bool CudaStreamOrdering::is_per_thread(StreamHandle stream) const noexcept {
  return stream == reinterpret_cast<StreamHandle>(cudaStreamPerThread);
}

EventHandle CudaStreamOrdering::create_event() {
  const detail::ScopedDevice device(ordinal_, {});
  cudaEvent_t event = nullptr;
  detail::check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming),
                     fmt::format("cuda device {}", ordinal_), "cudaEventCreateWithFlags");
  return reinterpret_cast<EventHandle>(event);
}

void CudaStreamOrdering::destroy_event(EventHandle event) noexcept {
  if (cudaEventDestroy(as_event(event)) != cudaSuccess) static_cast<void>(cudaGetLastError());
}

void CudaStreamOrdering::record(EventHandle event, StreamHandle stream) {
  const detail::ScopedDevice device(ordinal_, {});
  detail::check_cuda(cudaEventRecord(as_event(event), as_stream(stream)),
                     fmt::format("cuda device {}", ordinal_),
                     fmt::format("cudaEventRecord(stream {:#x})", stream));
}

void CudaStreamOrdering::wait(StreamHandle stream, EventHandle event) {
  const detail::ScopedDevice device(ordinal_, {});
  detail::check_cuda(cudaStreamWaitEvent(as_stream(stream), as_event(event), 0),
                     fmt::format("cuda device {}", ordinal_),
                     fmt::format("cudaStreamWaitEvent(stream {:#x})", stream));
}

void CudaStreamOrdering::synchronize(EventHandle event) {
  detail::check_cuda(cudaEventSynchronize(as_event(event)), fmt::format("cuda device {}", ordinal_),
                     "cudaEventSynchronize");
}

void CudaStreamOrdering::synchronize_device() {
  const detail::ScopedDevice device(ordinal_, {});
  detail::check_cuda(cudaDeviceSynchronize(), fmt::format("cuda device {}", ordinal_),
                     "cudaDeviceSynchronize");
}

}  // namespace gpumem
