// Budgets: how many bytes a heap or a user tag may hold, enforced in O(1) before memory is taken.
//
// A BudgetCounter holds the bytes reserved against a soft and a hard limit. Reservation is a
// single compare-and-swap, so concurrent requests can never together cross the hard limit.
// HeapBudget adds what the driver reports: bytes used on the heap by others (outside this
// manager) count against a computed limit, which itself follows the driver's budget. A fixed
// limit from Config::heap_budgets is what this manager may hold, whatever others use (the CUDA
// context alone holds 500 MiB): it counts only the manager's own bytes.
//
//   gpumem::BudgetCounter textures({.soft = 1 * gpumem::kGiB, .hard = 2 * gpumem::kGiB});
//   if (textures.try_reserve(size)) { /* ... */ textures.release(size); }
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "gpumem/core/config.hpp"
#include "gpumem/core/heap.hpp"

namespace gpumem {

class BudgetCounter {
 public:
  explicit BudgetCounter(BudgetLimits limits = {}) noexcept { set_limits(limits); }

  // Adds `bytes` unless used + extra + bytes would exceed the hard limit. `extra` is usage
  // counted against the limit that this counter does not own (memory held by others).
  bool try_reserve(std::uint64_t bytes, std::uint64_t extra = 0) noexcept;
  void release(std::uint64_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }

  std::uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::uint64_t hard() const noexcept { return hard_.load(std::memory_order_relaxed); }
  std::uint64_t soft() const noexcept { return soft_.load(std::memory_order_relaxed); }
  void set_limits(BudgetLimits limits) noexcept;

 private:
  std::atomic<std::uint64_t> used_{0};
  std::atomic<std::uint64_t> hard_{0};
  std::atomic<std::uint64_t> soft_{0};
};

// The limits a Config gives a heap with the given driver budget: host-visible heaps
// min(host_visible_budget, driver budget); device-local and shared heaps
// min(fraction × driver budget, driver budget − min_free_bytes). A fixed entry in
// Config::heap_budgets for the heap's name wins, capped at the driver budget.
BudgetLimits compute_heap_limits(const HeapInfo& heap, std::uint64_t driver_budget,
                                 const Config& config);

class HeapBudget {
 public:
  HeapBudget(const HeapInfo& heap, const Config& config);

  // Reserves bytes for this manager; false when the hard limit would be crossed.
  bool try_reserve(std::uint64_t bytes) noexcept {
    return own_.try_reserve(bytes, counted_external());
  }
  void release(std::uint64_t bytes) noexcept { own_.release(bytes); }
  bool would_exceed(std::uint64_t bytes) const noexcept;

  // Bytes held by this manager on the heap.
  std::uint64_t own_usage() const noexcept { return own_.used(); }
  // Bytes used on the heap by others, as of the last driver refresh.
  std::uint64_t external() const noexcept { return external_.load(std::memory_order_relaxed); }
  // Everything counted against the limit.
  std::uint64_t usage() const noexcept { return own_usage() + counted_external(); }
  std::uint64_t hard() const noexcept { return own_.hard(); }
  std::uint64_t soft() const noexcept { return own_.soft(); }
  bool within_budget() const noexcept { return usage() <= hard(); }
  // usage / hard, the figure pressure levels are judged on (1.0 when the limit is 0).
  double usage_fraction() const noexcept;

  std::optional<std::uint64_t> driver_budget() const noexcept;
  std::optional<std::uint64_t> driver_usage() const noexcept;

  // Takes a fresh driver report: the limits follow the driver budget, and driver usage beyond
  // what this manager holds becomes external usage.
  void update_from_driver(std::uint64_t budget, std::uint64_t usage, const Config& config);

 private:
  std::uint64_t counted_external() const noexcept { return counts_external_ ? external() : 0; }

  HeapInfo heap_;
  bool counts_external_;  // false under a fixed limit from Config::heap_budgets
  BudgetCounter own_;
  std::atomic<std::uint64_t> external_{0};
  std::atomic<std::uint64_t> driver_budget_{0};
  std::atomic<std::uint64_t> driver_usage_{0};
  std::atomic<bool> has_driver_figures_{false};
};

}  // namespace gpumem
