// Bookkeeping shared by backends that manage capacity themselves (host, sim): per-heap capacity,
// memory "used by others" for tests of budgets and pressure, and the set of live blocks, so that
// a block freed twice or never handed out is refused instead of corrupting anything.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/budget.hpp"

namespace gpumem::detail {

class BlockLedger {
 public:
  explicit BlockLedger(const std::vector<HeapInfo>& heaps);

  // Throws InvalidArgument for an unknown heap, a zero or overflowing size, or an alignment
  // that is not a power of two; returns the size rounded up to the heap's granularity.
  std::uint64_t checked_size(const DeviceInfo& device, std::uint32_t heap, std::uint64_t size,
                             std::uint64_t alignment) const;

  bool try_take(std::uint32_t heap, std::uint64_t bytes) noexcept;
  void give_back(std::uint32_t heap, std::uint64_t bytes) noexcept;

  void add(const RawBlock& block);
  // Removes and returns the recorded block; throws InvalidHandle if it is not live.
  RawBlock remove(const DeviceInfo& device, const RawBlock& block);
  // The recorded block; throws InvalidHandle if it is not live.
  RawBlock find(const DeviceInfo& device, const RawBlock& block) const;

  // Removes every live block (for a device being destroyed with blocks still out).
  std::vector<RawBlock> take_all();

  void set_external_usage(std::uint32_t heap, std::uint64_t bytes);
  HeapReport report(std::uint32_t heap) const;

  FenceValue next_fence() noexcept { return fence_.fetch_add(1, std::memory_order_relaxed) + 1; }
  FenceValue last_fence() const noexcept { return fence_.load(std::memory_order_relaxed); }

 private:
  struct HeapState {
    BudgetCounter capacity;
    std::atomic<std::uint64_t> external{0};
  };
  using LiveMap = std::unordered_map<std::uint64_t, RawBlock>;
  // The entry of a live block or InvalidHandle; mutex_ must be held.
  LiveMap::const_iterator live_entry(const DeviceInfo& device, const RawBlock& block) const;

  std::vector<HeapInfo> heaps_;
  std::unique_ptr<HeapState[]> state_;
  mutable std::mutex mutex_;
  LiveMap live_;
  std::atomic<FenceValue> fence_{0};
};

}  // namespace gpumem::detail
