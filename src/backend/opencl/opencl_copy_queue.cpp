#include "backend/opencl/opencl_copy_queue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "backend/opencl/opencl_check.hpp"
#include "gpumem/core/error.hpp"

namespace gpumem::detail {
namespace {

// An overlapping copy is split into pieces as long as the distance between the ranges; beyond
// this many pieces it goes through a temporary buffer instead.
constexpr std::uint64_t kMaxOverlapPieces = 64;

std::uint64_t distance(std::uint64_t a, std::uint64_t b) { return a < b ? b - a : a - b; }

}  // namespace

OpenclCopyQueue::OpenclCopyQueue(cl_context context, cl_device_id device, std::string where)
    : context_(context), where_(std::move(where)) {
  cl_int error = CL_SUCCESS;
  queue_ = clCreateCommandQueue(context_, device, 0, &error);
  check_cl(error, where_, "clCreateCommandQueue");
}

OpenclCopyQueue::~OpenclCopyQueue() {
  // Nothing here may throw: errors of a dying device have nobody left to report to.
  static_cast<void>(clFinish(queue_));
  for (const Pending& p : pending_) static_cast<void>(clReleaseEvent(p.event));
  static_cast<void>(clReleaseCommandQueue(queue_));
}

template <typename Enqueue>
FenceValue OpenclCopyQueue::submit(std::uint64_t size, Enqueue&& enqueue) {
  std::lock_guard lock(mutex_);
  retire_done();
  cl_event event = nullptr;
  if (size == 0) {
    // OpenCL refuses copies of nothing; a marker stands in, so the fence still keeps its place.
    check_cl(clEnqueueMarkerWithWaitList(queue_, 0, nullptr, &event), where_,
             "clEnqueueMarkerWithWaitList");
  } else {
    enqueue(&event);
  }
  // Without a flush some implementations hold commands back until someone waits, and a fence
  // polled with is_complete would never finish.
  if (const cl_int e = clFlush(queue_); e != CL_SUCCESS) {
    static_cast<void>(clReleaseEvent(event));
    check_cl(e, where_, "clFlush");
  }
  const FenceValue fence = issued_.load(std::memory_order_relaxed) + 1;
  pending_.push_back({.fence = fence, .event = event});
  issued_.store(fence, std::memory_order_release);
  return fence;
}

void OpenclCopyQueue::enqueue_copy(cl_mem dst, std::uint64_t dst_offset, cl_mem src,
                                   std::uint64_t src_offset, std::uint64_t size, cl_event* last) {
  const auto copy = [&](cl_mem to, std::uint64_t to_offset, cl_mem from, std::uint64_t from_offset,
                        std::uint64_t bytes, cl_event* event) {
    check_cl(
        clEnqueueCopyBuffer(queue_, from, to, from_offset, to_offset, bytes, 0, nullptr, event),
        where_, fmt::format("clEnqueueCopyBuffer({} bytes)", bytes));
  };
  const std::uint64_t gap = distance(dst_offset, src_offset);
  if (dst != src || gap >= size) {
    copy(dst, dst_offset, src, src_offset, size, last);
    return;
  }
  // Overlapping ranges of one buffer are CL_MEM_COPY_OVERLAP: copy in pieces no longer than the
  // distance, in the order memmove would, each reading bytes no earlier piece has written. The
  // queue is in order, so only the last piece needs an event.
  if (size / gap > kMaxOverlapPieces) {
    cl_int error = CL_SUCCESS;
    cl_mem temporary = clCreateBuffer(context_, CL_MEM_READ_WRITE, size, nullptr, &error);
    if (error == CL_SUCCESS) {
      // Released now, deleted by OpenCL once the commands using it are done.
      try {
        copy(temporary, 0, src, src_offset, size, nullptr);
        copy(dst, dst_offset, temporary, 0, size, last);
      } catch (...) {
        static_cast<void>(clReleaseMemObject(temporary));
        throw;
      }
      static_cast<void>(clReleaseMemObject(temporary));
      return;
    }
    if (!is_out_of_memory(error)) check_cl(error, where_, "clCreateBuffer(temporary)");
  }
  const bool forward = dst_offset < src_offset;
  for (std::uint64_t done = 0; done < size;) {
    const std::uint64_t piece = std::min(gap, size - done);
    // Forward from the front when sliding down, from the back when sliding up.
    const std::uint64_t at = forward ? done : size - done - piece;
    done += piece;
    copy(dst, dst_offset + at, src, src_offset + at, piece, done == size ? last : nullptr);
  }
}

FenceValue OpenclCopyQueue::copy_buffers(cl_mem dst, std::uint64_t dst_offset, cl_mem src,
                                         std::uint64_t src_offset, std::uint64_t size) {
  const bool onto_itself = dst == src && dst_offset == src_offset;
  return submit(onto_itself ? 0 : size, [&](cl_event* event) {
    enqueue_copy(dst, dst_offset, src, src_offset, size, event);
  });
}

FenceValue OpenclCopyQueue::write(cl_mem dst, std::uint64_t dst_offset, const void* src,
                                  std::uint64_t size) {
  return submit(size, [&](cl_event* event) {
    check_cl(clEnqueueWriteBuffer(queue_, dst, CL_FALSE, dst_offset, size, src, 0, nullptr, event),
             where_, fmt::format("clEnqueueWriteBuffer({} bytes)", size));
  });
}

FenceValue OpenclCopyQueue::read(void* dst, cl_mem src, std::uint64_t src_offset,
                                 std::uint64_t size) {
  return submit(size, [&](cl_event* event) {
    check_cl(clEnqueueReadBuffer(queue_, src, CL_FALSE, src_offset, size, dst, 0, nullptr, event),
             where_, fmt::format("clEnqueueReadBuffer({} bytes)", size));
  });
}

FenceValue OpenclCopyQueue::host_copy(void* dst, const void* src, std::uint64_t size) {
  // A marker is done when every command before it is: then the source holds what earlier copies
  // wrote, and no earlier copy still reads the destination.
  const FenceValue fence = submit(0, [](cl_event*) {});
  wait(fence);
  std::memmove(dst, src, size);
  return fence;
}

cl_event OpenclCopyQueue::event_of(FenceValue fence) const {
  // Pending fences are consecutive, so the fence's place in the queue follows from the first.
  return pending_[fence - pending_.front().fence].event;
}

void OpenclCopyQueue::retire_through(FenceValue fence) {
  while (!pending_.empty() && pending_.front().fence <= fence) {
    static_cast<void>(clReleaseEvent(pending_.front().event));
    pending_.pop_front();
  }
  if (fence > completed_.load(std::memory_order_relaxed)) {
    completed_.store(fence, std::memory_order_release);
  }
}

void OpenclCopyQueue::retire_done() {
  while (!pending_.empty()) {
    const Pending& front = pending_.front();
    cl_int status = CL_QUEUED;
    check_cl(clGetEventInfo(front.event, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status,
                            nullptr),
             where_, fmt::format("clGetEventInfo(fence {})", front.fence));
    if (status != CL_COMPLETE) return;  // a failed copy is reported to whoever waits for it
    retire_through(front.fence);
  }
}

bool OpenclCopyQueue::is_complete(FenceValue fence) {
  if (fence <= completed_.load(std::memory_order_acquire)) return true;
  std::lock_guard lock(mutex_);
  if (fence <= completed_.load(std::memory_order_acquire)) return true;
  cl_int status = CL_QUEUED;
  check_cl(clGetEventInfo(event_of(fence), CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                          &status, nullptr),
           where_, fmt::format("clGetEventInfo(fence {})", fence));
  if (status < 0) {
    throw Error(fmt::format("{}: the copy of fence {} failed: {}", where_, fence,
                            opencl_error_text(status)));
  }
  // In order: this copy done means every earlier one is.
  if (status == CL_COMPLETE) retire_through(fence);
  return status == CL_COMPLETE;
}

void OpenclCopyQueue::wait(FenceValue fence) {
  if (fence <= completed_.load(std::memory_order_acquire)) return;
  cl_event event = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (fence <= completed_.load(std::memory_order_acquire)) return;
    event = event_of(fence);
    // Another thread may retire the fence meanwhile: keep the event alive for this wait.
    check_cl(clRetainEvent(event), where_, "clRetainEvent");
  }
  const cl_int status = clWaitForEvents(1, &event);
  static_cast<void>(clReleaseEvent(event));
  if (status == CL_SUCCESS) {
    std::lock_guard lock(mutex_);
    retire_through(fence);
  }
  check_cl(status, where_, fmt::format("clWaitForEvents(fence {})", fence));
}

}  // namespace gpumem::detail
