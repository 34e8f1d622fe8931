// The command queue an OpenCL device copies on, and the fences that say when each copy is done:
// fence n is the cl_event of the last command of the n-th copy. The queue is in order, so fence n
// being done means every earlier one is done too, and the fences still pending form a queue.
//
//   detail::OpenclCopyQueue queue(context, device, "opencl device 0.0 'pthread'");
//   FenceValue fence = queue.copy_buffers(dst, 0, src, 0, bytes);
//   queue.wait(fence);
//
// Thread safety: every method may be called from several threads at once. The lock is held
// across the non-blocking enqueue calls so that fence order is queue order; it is never held
// across clWaitForEvents.
#pragma once

#include <CL/cl.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "gpumem/backend/device.hpp"

namespace gpumem::detail {

class OpenclCopyQueue {
 public:
  // Makes an in-order queue; `where` prefixes error messages.
  OpenclCopyQueue(cl_context context, cl_device_id device, std::string where);
  // Waits for every copy, then releases the events and the queue.
  ~OpenclCopyQueue();
  OpenclCopyQueue(const OpenclCopyQueue&) = delete;
  OpenclCopyQueue& operator=(const OpenclCopyQueue&) = delete;

  // Buffer to buffer; ranges of one buffer may overlap (defragmentation slides data within a
  // block), and the result is then memmove's.
  FenceValue copy_buffers(cl_mem dst, std::uint64_t dst_offset, cl_mem src,
                          std::uint64_t src_offset, std::uint64_t size);
  // Host memory (a mapped block) to a buffer, and back.
  FenceValue write(cl_mem dst, std::uint64_t dst_offset, const void* src, std::uint64_t size);
  FenceValue read(void* dst, cl_mem src, std::uint64_t src_offset, std::uint64_t size);
  // Host memory to host memory (two mapped blocks): a memmove once every copy issued before is
  // done, so it sees what they wrote. Returns when it is done.
  FenceValue host_copy(void* dst, const void* src, std::uint64_t size);

  // For fences this queue issued; the caller checks that.
  bool is_complete(FenceValue fence);
  void wait(FenceValue fence);
  FenceValue last_issued() const noexcept { return issued_.load(std::memory_order_acquire); }

  cl_command_queue get() const noexcept { return queue_; }
  const std::string& where() const noexcept { return where_; }

 private:
  struct Pending {
    FenceValue fence = 0;
    cl_event event = nullptr;
  };
  // Runs enqueue(last_event_out) under the lock (a marker instead when size is 0), flushes, and
  // records the event as the next fence.
  template <typename Enqueue>
  FenceValue submit(std::uint64_t size, Enqueue&& enqueue);
  // Enqueues a buffer copy, split into pieces where the ranges overlap. mutex_ must be held.
  void enqueue_copy(cl_mem dst, std::uint64_t dst_offset, cl_mem src, std::uint64_t src_offset,
                    std::uint64_t size, cl_event* last);
  // Releases the events of fences up to `fence`, known done. mutex_ must be held.
  void retire_through(FenceValue fence);
  // Retires the done fences at the queue's front. mutex_ must be held.
  void retire_done();
  // The event of a pending fence; mutex_ must be held and the fence issued and not retired.
  cl_event event_of(FenceValue fence) const;

  const cl_context context_;
  const std::string where_;
  cl_command_queue queue_ = nullptr;
  std::mutex mutex_;
  std::deque<Pending> pending_;  // fences issued and not known done, oldest first
  std::atomic<FenceValue> issued_{0};
  std::atomic<FenceValue> completed_{0};
};

}  // namespace gpumem::detail
