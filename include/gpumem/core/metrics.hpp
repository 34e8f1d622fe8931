// Allocation metrics: live counts and bytes, high-water marks and totals, per heap, per heap
// kind, per category and overall, plus event counters (pool hits, CPU fallbacks, resizes, budget
// refusals).
//
// MetricsRecorder is the hot-path side: lock-free relaxed atomic counters. snapshot() reads them
// into a MetricsSnapshot whose figures are consistent with each other (live = allocated − freed,
// peak ≥ live) even while other threads allocate.
//
//   gpumem::MetricsSnapshot m = manager.metrics();
//   fmt::print("textures: {} live, peak {}\n", m.by_category[1].live_bytes, m.total.peak_bytes);
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpumem/core/category.hpp"
#include "gpumem/core/heap.hpp"
#include "gpumem/core/pressure_level.hpp"

namespace gpumem {

struct UsageFigures {
  std::uint64_t live_count = 0;
  std::uint64_t live_bytes = 0;
  std::uint64_t peak_bytes = 0;  // high-water mark of live_bytes since creation or reset_peak()
  std::uint64_t allocated_count = 0;
  std::uint64_t allocated_bytes = 0;
  std::uint64_t freed_count = 0;
  std::uint64_t freed_bytes = 0;
};

struct HeapFigures {
  std::uint32_t heap = 0;
  std::string name;
  HeapKind kind = HeapKind::DeviceLocal;
  UsageFigures usage;                // bytes as requested by callers
  std::uint64_t reserved_bytes = 0;  // device memory held (blocks or pages, cached ones too)
  std::uint64_t peak_reserved_bytes = 0;
  std::uint64_t budget_soft = 0;
  std::uint64_t budget_hard = 0;
  std::uint64_t external_bytes = 0;  // used on the heap by others, per the driver
  std::uint64_t driver_budget = 0;   // 0 where the driver reports none
  std::uint64_t driver_usage = 0;
  bool within_budget = true;
  PressureLevel pressure = PressureLevel::Low;
};

struct EventCounts {
  std::uint64_t pool_hits = 0;
  std::uint64_t pool_misses = 0;
  std::uint64_t cpu_fallbacks = 0;
  std::uint64_t resizes = 0;
  std::uint64_t budget_refusals = 0;
  std::uint64_t out_of_memory = 0;
  std::uint64_t soft_limit_crossings = 0;
  std::uint64_t driver_refreshes = 0;

  double pool_hit_rate() const noexcept {
    const std::uint64_t total = pool_hits + pool_misses;
    return total == 0 ? 0.0 : static_cast<double>(pool_hits) / static_cast<double>(total);
  }
};

struct MetricsSnapshot {
  std::vector<HeapFigures> heaps;
  std::array<UsageFigures, kHeapKindCount> by_kind{};
  std::array<UsageFigures, kCategoryCount> by_category{};
  UsageFigures total;
  std::uint64_t host_visible_bytes = 0;  // live bytes on heaps the CPU can map
  bool within_budget = true;             // every heap within its hard budget
  EventCounts events;

  const UsageFigures& kind(HeapKind k) const { return by_kind[static_cast<std::size_t>(k)]; }
  const UsageFigures& category(Category c) const {
    return by_category[static_cast<std::size_t>(c)];
  }
};

// One machine-readable JSON object (stable field names, bytes as integers).
std::string to_json(const MetricsSnapshot& snapshot);

// Hot-path counters. Heap indices are fixed at construction.
class MetricsRecorder {
 public:
  explicit MetricsRecorder(std::vector<HeapInfo> heaps);
  ~MetricsRecorder();
  MetricsRecorder(const MetricsRecorder&) = delete;
  MetricsRecorder& operator=(const MetricsRecorder&) = delete;

  // An allocation of `bytes` (as requested) made or freed.
  void on_allocate(std::uint32_t heap, Category category, std::uint64_t bytes) noexcept;
  void on_free(std::uint32_t heap, Category category, std::uint64_t bytes) noexcept;
  // Device memory taken from or given back to the heap (the footprint, cached memory included).
  void on_reserve(std::uint32_t heap, std::uint64_t bytes) noexcept;
  void on_unreserve(std::uint32_t heap, std::uint64_t bytes) noexcept;

  enum class Event : std::uint8_t {
    PoolHit,
    PoolMiss,
    CpuFallback,
    Resize,
    BudgetRefusal,
    OutOfMemory,
    SoftLimitCrossing,
    DriverRefresh,
    kCount
  };
  void count(Event event, std::uint64_t n = 1) noexcept;

  // Heap figures are filled with usage only; the caller adds budget and pressure facts.
  MetricsSnapshot snapshot() const;
  // Sets every high-water mark to the current live figure.
  void reset_peak() noexcept;

 private:
  struct Cell;
  std::vector<HeapInfo> heaps_;
  // An allocation adds to the totals of its (heap, category) pair (count and bytes), a free to
  // its freed count; both change the live bytes of the heap, the category and, with several
  // heaps, the total (and the kind's where a kind has several heaps), whose high-water marks need
  // a sum kept as it changes: 5 atomic read-modify-writes per allocation and 4 per free. A
  // heap's or a category's totals are summed from the pairs when a snapshot is taken.
  std::unique_ptr<Cell[]> pair_cells_;      // per heap and category: totals only
  std::unique_ptr<Cell[]> heap_cells_;      // per heap: live/peak bytes only
  std::unique_ptr<Cell[]> category_cells_;  // per category: live/peak bytes only
  std::unique_ptr<Cell[]> reserved_cells_;  // per heap: live/peak bytes only
  // Per kind and overall, live/peak bytes, only where they add up more than one heap: a kind
  // with one heap, and the total of a single heap, are that heap's figures.
  std::unique_ptr<Cell[]> kind_peak_cells_;
  std::unique_ptr<Cell> total_peak_cell_;
  std::array<std::uint32_t, kHeapKindCount> heaps_of_kind_{};
  std::unique_ptr<Cell*[]> shared_kind_cell_;  // per heap: its kind's cell, or null if its own
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Event::kCount)> events_{};
};

}  // namespace gpumem
