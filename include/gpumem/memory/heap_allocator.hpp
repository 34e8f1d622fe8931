// The strategy that places allocations in one heap's memory: one device block per request
// (DirectAllocator), TLSF-managed blocks (BlockPoolAllocator), or a page-mapped virtual range
// (PageArenaAllocator). A Manager holds one per heap; all take memory through a BlockSource.
//
//   std::unique_ptr<gpumem::HeapAllocator> direct =
//   std::make_unique<gpumem::DirectAllocator>(source); gpumem::Placement p = direct->allocate(4096,
//   256); if (p) direct->deallocate(p);
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>

#include "gpumem/alloc/defrag_planner.hpp"
#include "gpumem/core/heap.hpp"
#include "gpumem/memory/block_source.hpp"

namespace gpumem {

// Where an allocation lives: a range of a device block. `token` is the allocator's own record
// of it (opaque to everyone else), handed back on deallocate.
struct Placement {
  RawBlock block;
  std::uint64_t offset = 0;
  std::uint64_t size = 0;  // bytes of the block set aside for it (the request, rounded)
  std::array<std::uint64_t, 3> token{};
  GrowthRefusal refusal = GrowthRefusal::None;  // why it failed, when block is empty

  explicit operator bool() const noexcept { return static_cast<bool>(block); }
  std::uint64_t address() const noexcept { return block.address + offset; }
};

struct HeapAllocatorStats {
  std::uint64_t reserved_bytes = 0;  // device memory held now
  std::uint64_t peak_reserved_bytes = 0;
  std::uint64_t live_bytes = 0;  // sum of live placements' sizes
  std::uint64_t live_count = 0;
  std::uint64_t blocks = 0;        // device blocks (or physical pages) held
  std::uint64_t cached_bytes = 0;  // held but free: what trim() could give back
};

// What one defragmentation pass did.
struct DefragResult {
  std::uint64_t moves = 0;  // allocations moved (on_move calls)
  std::uint64_t bytes_moved = 0;
  std::uint64_t blocks_released = 0;  // blocks emptied by the pass and given back to the device
  std::uint64_t moves_skipped = 0;    // planned moves that could not be placed as planned
  double fragmentation_before = 0.0;  // the allocator's fragmentation before and after the pass
  double fragmentation_after = 0.0;
};

class HeapAllocator {
 public:
  // Called once per moved allocation, after its bytes were copied and its old range freed.
  // `from` is the placement the owner holds (token included); `to` replaces it.
  using MoveCallback = std::function<void(const Placement& from, const Placement& to)>;

  virtual ~HeapAllocator() = default;
  HeapAllocator() = default;
  HeapAllocator(const HeapAllocator&) = delete;
  HeapAllocator& operator=(const HeapAllocator&) = delete;

  virtual std::string_view name() const noexcept = 0;
  // size > 0; alignment a power of two (the caller validated both). An empty placement with
  // `refusal` set when the budget or the device refused the memory it needed. Allocators that
  // defragment never move a placement made with movable = false.
  virtual Placement allocate(std::uint64_t size, std::uint64_t alignment, bool movable) = 0;
  virtual void deallocate(const Placement& placement) noexcept = 0;
  virtual HeapAllocatorStats stats() const = 0;
  // The largest range one request could take from memory already held (or, for the arena, from
  // its range of addresses); 0 where the allocator keeps no free ranges. For error reports.
  virtual std::uint64_t largest_free_range() const { return 0; }
  // Gives cached (held but unused) memory back to the device.
  virtual void trim() = 0;
  // One incremental compaction pass within `limits`, moving movable placements (contents copied
  // through the device) and calling on_move for each. Allocators with nothing to compact (one
  // block per allocation, or pages that are interchangeable anyway) do nothing. The contract
  // while it runs is BlockPoolAllocator::defragment's.
  virtual DefragResult defragment(const DefragLimits& /*limits*/, const MoveCallback& /*on_move*/) {
    return {};
  }
};

// One device block per allocation, freed at once: what cudaMalloc/vkAllocateMemory give without a
// pool. The baseline the others are measured against, and right for very large resources.
class DirectAllocator final : public HeapAllocator {
 public:
  explicit DirectAllocator(BlockSource& source) : source_(source) {}
  std::string_view name() const noexcept override { return "direct"; }
  Placement allocate(std::uint64_t size, std::uint64_t alignment, bool movable) override;
  void deallocate(const Placement& placement) noexcept override;
  HeapAllocatorStats stats() const override;
  void trim() override {}

 private:
  BlockSource& source_;
  std::atomic<std::uint64_t> reserved_{0};
  std::atomic<std::uint64_t> peak_reserved_{0};
  std::atomic<std::uint64_t> live_bytes_{0};
  std::atomic<std::uint64_t> live_count_{0};
};

}  // namespace gpumem
