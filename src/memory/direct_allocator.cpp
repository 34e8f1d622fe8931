#include "gpumem/memory/heap_allocator.hpp"

namespace gpumem {

Placement DirectAllocator::allocate(std::uint64_t size, std::uint64_t alignment,
                                    bool /*movable: direct blocks never move*/) {
  const BlockGrant grant = source_.acquire_block(size, alignment);
  if (!grant) return {.refusal = grant.refusal};
  const std::uint64_t now =
      reserved_.fetch_add(grant.block.size, std::memory_order_relaxed) + grant.block.size;
  std::uint64_t peak = peak_reserved_.load(std::memory_order_relaxed);
  while (now > peak && !peak_reserved_.compare_exchange_weak(peak, now)) {
  }
  live_bytes_.fetch_add(grant.block.size, std::memory_order_relaxed);
  live_count_.fetch_add(1, std::memory_order_relaxed);
  return {.block = grant.block, .offset = 0, .size = grant.block.size};
}

void DirectAllocator::deallocate(const Placement& placement) noexcept {
  source_.release_block(placement.block);
  reserved_.fetch_sub(placement.block.size, std::memory_order_relaxed);
  live_bytes_.fetch_sub(placement.size, std::memory_order_relaxed);
  live_count_.fetch_sub(1, std::memory_order_relaxed);
}

HeapAllocatorStats DirectAllocator::stats() const {
  HeapAllocatorStats s;
  s.reserved_bytes = reserved_.load(std::memory_order_relaxed);
  s.peak_reserved_bytes = peak_reserved_.load(std::memory_order_relaxed);
  s.live_bytes = live_bytes_.load(std::memory_order_relaxed);
  s.live_count = live_count_.load(std::memory_order_relaxed);
  s.blocks = s.live_count;
  return s;
}

}  // namespace gpumem
