#include "backend/cuda/cuda_copy_stream.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "backend/cuda/cuda_check.hpp"

namespace gpumem::detail {
namespace {

// Events kept for reuse once their fences are done: enough for the copies a staging ring keeps
// in flight, few enough not to matter. More are made when more copies are pending.
constexpr std::size_t kSpareEvents = 32;
// An overlapping copy is split into pieces as long as the distance between the ranges; beyond
// this many pieces it goes through a temporary buffer instead.
constexpr std::uint64_t kMaxOverlapPieces = 64;

}  // namespace

CudaCopyStream::CudaCopyStream(int ordinal, std::string where)
    : ordinal_(ordinal), where_(std::move(where)) {
  activate_device(ordinal_, where_);
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), where_,
             "cudaStreamCreateWithFlags");
}

CudaCopyStream::~CudaCopyStream() {
  // Nothing here may throw: errors of a dying device have nobody left to report to.
  if (cudaSetDevice(ordinal_) == cudaSuccess) static_cast<void>(cudaStreamSynchronize(stream_));
  for (const Pending& p : pending_) static_cast<void>(cudaEventDestroy(p.event));
  for (cudaEvent_t e : spare_) static_cast<void>(cudaEventDestroy(e));
  static_cast<void>(cudaStreamDestroy(stream_));
  static_cast<void>(cudaGetLastError());
}

void CudaCopyStream::enqueue_copy(char* dst, const char* src, std::uint64_t size) {
  const auto memcpy_async = [this](char* to, const char* from, std::uint64_t bytes) {
    check_cuda(cudaMemcpyAsync(to, from, bytes, cudaMemcpyDefault, stream_), where_,
               fmt::format("cudaMemcpyAsync({} bytes)", bytes));
  };
  const std::uint64_t distance =
      dst < src ? static_cast<std::uint64_t>(src - dst) : static_cast<std::uint64_t>(dst - src);
  if (distance >= size) {
    memcpy_async(dst, src, size);
    return;
  }
  if (distance == 0) return;  // a copy onto itself
  // Overlapping ranges: cudaMemcpy's result is undefined there, so copy in pieces no longer than
  // the distance, in the order memmove would, each reading bytes no earlier piece has written.
  if (size / distance > kMaxOverlapPieces) {
    void* temporary = nullptr;
    if (cudaMallocAsync(&temporary, size, stream_) == cudaSuccess) {
      memcpy_async(static_cast<char*>(temporary), src, size);
      memcpy_async(dst, static_cast<char*>(temporary), size);
      check_cuda(cudaFreeAsync(temporary, stream_), where_, "cudaFreeAsync");
      return;
    }
    static_cast<void>(cudaGetLastError());  // no room for it: pieces it is
  }
  if (dst < src) {
    for (std::uint64_t offset = 0; offset < size; offset += distance) {
      memcpy_async(dst + offset, src + offset, std::min(distance, size - offset));
    }
  } else {
    for (std::uint64_t end = size; end > 0;) {
      const std::uint64_t piece = std::min(distance, end);
      end -= piece;
      memcpy_async(dst + end, src + end, piece);
    }
  }
}

cudaEvent_t CudaCopyStream::take_event() {
  if (!spare_.empty()) {
    cudaEvent_t event = spare_.back();
    spare_.pop_back();
    return event;
  }
  cudaEvent_t event = nullptr;
  check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), where_,
             "cudaEventCreateWithFlags");
  return event;
}

void CudaCopyStream::recycle(cudaEvent_t event) {
  spare_.push_back(event);
  // A thread in cudaEventSynchronize may hold any retired event: destroy none while one waits.
  while (waiters_ == 0 && spare_.size() > kSpareEvents) {
    static_cast<void>(cudaEventDestroy(spare_.back()));
    spare_.pop_back();
  }
}

void CudaCopyStream::retire_done() {
  while (!pending_.empty()) {
    const Pending front = pending_.front();
    const cudaError_t status = cudaEventQuery(front.event);
    if (status == cudaErrorNotReady) return;
    check_cuda(status, where_, fmt::format("cudaEventQuery(fence {})", front.fence));
    pending_.pop_front();
    completed_.store(front.fence, std::memory_order_release);
    recycle(front.event);
  }
}

FenceValue CudaCopyStream::copy(void* dst, const void* src, std::uint64_t size) {
  const ScopedDevice current(ordinal_, where_);
  std::lock_guard lock(mutex_);
  retire_done();
  enqueue_copy(static_cast<char*>(dst), static_cast<const char*>(src), size);
  cudaEvent_t event = take_event();
  if (const cudaError_t e = cudaEventRecord(event, stream_); e != cudaSuccess) {
    recycle(event);
    check_cuda(e, where_, "cudaEventRecord");
  }
  const FenceValue fence = issued_.load(std::memory_order_relaxed) + 1;
  pending_.push_back({.fence = fence, .event = event});
  issued_.store(fence, std::memory_order_release);
  return fence;
}

bool CudaCopyStream::is_complete(FenceValue fence) {
  if (fence <= completed_.load(std::memory_order_acquire)) return true;
  const ScopedDevice current(ordinal_, where_);
  std::lock_guard lock(mutex_);
  retire_done();
  return fence <= completed_.load(std::memory_order_acquire);
}

void CudaCopyStream::wait(FenceValue fence) {
  if (fence <= completed_.load(std::memory_order_acquire)) return;
  const ScopedDevice current(ordinal_, where_);
  cudaEvent_t event = nullptr;
  {
    std::lock_guard lock(mutex_);
    retire_done();
    if (fence <= completed_.load(std::memory_order_acquire)) return;
    // Pending fences are consecutive, so the fence's place in the queue follows from the first.
    event = pending_[fence - pending_.front().fence].event;
    ++waiters_;
  }
  // Should the event be retired and recorded again meanwhile, this waits for a later copy:
  // longer than needed, never too short.
  const cudaError_t status = cudaEventSynchronize(event);
  {
    std::lock_guard lock(mutex_);
    --waiters_;
    if (status == cudaSuccess) retire_done();
  }
  check_cuda(status, where_, fmt::format("cudaEventSynchronize(fence {})", fence));
}

}  // namespace gpumem::detail
