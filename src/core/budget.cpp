#include "gpumem/core/budget.hpp"

#include <algorithm>
#include <cmath>

namespace gpumem {

bool BudgetCounter::try_reserve(std::uint64_t bytes, std::uint64_t extra) noexcept {
  const std::uint64_t limit = hard();
  std::uint64_t current = used_.load(std::memory_order_relaxed);
  do {
    // Written as subtractions so that no sum can wrap around.
    if (extra > limit || bytes > limit - extra || current > limit - extra - bytes) return false;
  } while (!used_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
  return true;
}

void BudgetCounter::set_limits(BudgetLimits limits) noexcept {
  hard_.store(limits.hard, std::memory_order_relaxed);
  soft_.store(limits.soft == 0 ? limits.hard : std::min(limits.soft, limits.hard),
              std::memory_order_relaxed);
}

BudgetLimits compute_heap_limits(const HeapInfo& heap, std::uint64_t driver_budget,
                                 const Config& config) {
  if (auto fixed = config.heap_budgets.find(heap.name); fixed != config.heap_budgets.end()) {
    const std::uint64_t hard = std::min(fixed->second.hard, driver_budget);
    const std::uint64_t soft = fixed->second.soft == 0 ? hard : std::min(fixed->second.soft, hard);
    return {.soft = soft, .hard = hard};
  }
  std::uint64_t hard = 0;
  if (uses_host_visible_budget(heap.kind)) {
    hard = std::min(config.host_visible_budget, driver_budget);
  } else {
    const auto fraction = static_cast<std::uint64_t>(
        std::floor(config.gpu_memory_fraction * static_cast<double>(driver_budget)));
    const std::uint64_t margin =
        driver_budget > config.min_free_bytes ? driver_budget - config.min_free_bytes : 0;
    hard = std::min(fraction, margin);
  }
  const auto soft = static_cast<std::uint64_t>(
      std::floor(config.soft_limit_fraction * static_cast<double>(hard)));
  return {.soft = soft, .hard = hard};
}

HeapBudget::HeapBudget(const HeapInfo& heap, const Config& config)
    : heap_(heap), counts_external_(!config.heap_budgets.contains(heap.name)) {
  const std::uint64_t budget = heap.driver_budget.value_or(heap.size);
  own_.set_limits(compute_heap_limits(heap, budget, config));
  if (heap.driver_budget) {
    driver_budget_ = *heap.driver_budget;
    driver_usage_ = heap.driver_usage.value_or(0);
    external_ = heap.driver_usage.value_or(0);
    has_driver_figures_ = true;
  }
}

bool HeapBudget::would_exceed(std::uint64_t bytes) const noexcept {
  const std::uint64_t limit = hard();
  const std::uint64_t used = usage();
  return used > limit || bytes > limit - used;
}

double HeapBudget::usage_fraction() const noexcept {
  const std::uint64_t limit = hard();
  if (limit == 0) return 1.0;
  return static_cast<double>(usage()) / static_cast<double>(limit);
}

std::optional<std::uint64_t> HeapBudget::driver_budget() const noexcept {
  if (!has_driver_figures_.load(std::memory_order_acquire)) return std::nullopt;
  return driver_budget_.load(std::memory_order_relaxed);
}

std::optional<std::uint64_t> HeapBudget::driver_usage() const noexcept {
  if (!has_driver_figures_.load(std::memory_order_acquire)) return std::nullopt;
  return driver_usage_.load(std::memory_order_relaxed);
}

void HeapBudget::update_from_driver(std::uint64_t budget, std::uint64_t usage,
                                    const Config& config) {
  // Our own usage can move while the driver was asked; the difference is transient and
  // corrected by the next refresh, and it can only make the external estimate smaller.
  const std::uint64_t own = own_usage();
  external_.store(usage > own ? usage - own : 0, std::memory_order_relaxed);
  driver_budget_.store(budget, std::memory_order_relaxed);
  driver_usage_.store(usage, std::memory_order_relaxed);
  has_driver_figures_.store(true, std::memory_order_release);
  own_.set_limits(compute_heap_limits(heap_, budget, config));
}

}  // namespace gpumem
