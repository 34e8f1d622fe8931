// The few stream and event operations a stream-ordered allocator needs, behind a small seam so
// that the ordering rules are tested without a GPU (a fake records what was asked) and served by
// CUDA on one (CudaStreamOrdering). A stream is an opaque 64-bit handle: for CUDA the
// cudaStream_t value, 0 being the legacy default stream.
//
//   class FakeOrdering final : public gpumem::StreamOrdering { ... };  // see the tests
//   gpumem::StreamOrderedAllocator allocator(governor, fake);
//
// Thread safety: implementations must allow every method to be called from several threads at
// once. Methods taking a per-thread stream act on the calling thread's stream, so callers invoke
// them from the thread that uses it.
#pragma once

#include <cstdint>

namespace gpumem {

using StreamHandle = std::uint64_t;
using EventHandle = std::uint64_t;

class StreamOrdering {
 public:
  virtual ~StreamOrdering() = default;
  StreamOrdering() = default;
  StreamOrdering(const StreamOrdering&) = delete;
  StreamOrdering& operator=(const StreamOrdering&) = delete;

  // Whether the handle names a different stream on every thread (CUDA's cudaStreamPerThread).
  virtual bool is_per_thread(StreamHandle stream) const noexcept = 0;
  virtual EventHandle create_event() = 0;
  virtual void destroy_event(EventHandle event) noexcept = 0;
  // Captures the work submitted to `stream` so far.
  virtual void record(EventHandle event, StreamHandle stream) = 0;
  // Work submitted to `stream` from now on starts after the work `event` captured.
  virtual void wait(StreamHandle stream, EventHandle event) = 0;
  // Returns once the work `event` last captured has completed (the CPU waits; the device runs on).
  virtual void synchronize(EventHandle event) = 0;
  // Returns once every stream of the device is idle.
  virtual void synchronize_device() = 0;
};

}  // namespace gpumem
