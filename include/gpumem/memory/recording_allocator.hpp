// A heap allocator that records what it is asked into an allocation trace: it forwards every
// call to the allocator it wraps and reports each allocation and free to a TraceRecorder, so a
// program's own allocation sequence can be captured from any gpumem allocator and replayed later
// (memory/trace_replay.hpp) against other allocators.
//
//   gpumem::TraceRecorder recorder("my_program.trace.gz", "my_program");
//   gpumem::RecordingAllocator allocator(gpumem::make_heap_allocator(kind, governor), recorder);
//   gpumem::Placement p = allocator.allocate(4096, 256, false);   // recorded as "a 0 4096 0"
//   allocator.deallocate(p);                                     // recorded as "f 0"
//   recorder.finish();
//
// Ids are the recorder's own, 0, 1, 2, ... in the order allocations succeed, never reused; every
// record is on stream 0. The recorded size is the size asked of this allocator: below a Manager
// that is the request already rounded to the heap's granularity. Refused allocations are not
// recorded (the program got nothing to free).
//
// Thread safety: every method may be called from several threads at once, like the allocator it
// wraps; events are recorded in the order the recorder takes them.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/memory/heap_allocator.hpp"

namespace gpumem {

class RecordingAllocator final : public HeapAllocator {
 public:
  // `recorder` must outlive this allocator. Throws InvalidArgument when inner is null.
  RecordingAllocator(std::unique_ptr<HeapAllocator> inner, TraceRecorder& recorder);

  // The wrapped allocator's name: recording does not change what places the allocations.
  std::string_view name() const noexcept override { return inner_->name(); }
  // Throws what the recorder throws (e.g. after its finish()), having given the placement back.
  Placement allocate(std::uint64_t size, std::uint64_t alignment, bool movable) override;
  // A recorder failure is logged and the placement freed all the same.
  void deallocate(const Placement& placement) noexcept override;
  HeapAllocatorStats stats() const override { return inner_->stats(); }
  void trim() override { inner_->trim(); }

  HeapAllocator& inner() noexcept { return *inner_; }

 private:
  // A live placement is known by its block and offset: no two live ones share both.
  struct Key {
    std::uint64_t block = 0;
    std::uint64_t offset = 0;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& key) const noexcept;
  };

  std::unique_ptr<HeapAllocator> inner_;
  TraceRecorder& recorder_;
  std::mutex mutex_;  // guards next_id_ and ids_; never held while the recorder writes
  std::uint64_t next_id_ = 0;
  std::unordered_map<Key, std::uint64_t, KeyHash> ids_;  // live placement -> trace id
};

}  // namespace gpumem
