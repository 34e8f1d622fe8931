// Budget, pressure and driver figures of one heap, and the BlockSource its allocator grows
// through. Every byte taken from the device passes reserve() (one compare-and-swap against the
// hard limit); every change of the footprint updates the footprint metrics, logs soft-limit and
// warning-level crossings once, and reports pressure transitions to subscribers. Driver figures
// are refreshed per Config::refresh, never on a pressure query.
//
//   gpumem::HeapGovernor governor(device, 0, config, metrics, subscribers);
//   gpumem::DirectAllocator allocator(governor);
//
// Thread safety: every method may be called from several threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "gpumem/core/budget.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/pressure.hpp"
#include "gpumem/memory/block_source.hpp"

namespace gpumem {

class HeapGovernor final : public BlockSource {
 public:
  // `config`, `metrics` and `subscribers` must outlive the governor.
  HeapGovernor(Device& device, std::uint32_t heap, const Config& config, MetricsRecorder& metrics,
               PressureSubscribers& subscribers);

  Device& device() noexcept override { return device_; }
  const HeapInfo& heap() const noexcept override { return heap_; }
  bool reserve(std::uint64_t bytes) noexcept override;
  void unreserve(std::uint64_t bytes) noexcept override;
  bool fits_soft_limit(std::uint64_t bytes) const noexcept override;

  const HeapBudget& budget() const noexcept { return budget_; }
  // The recorder this heap's footprint goes to; allocators over the governor record their
  // allocations and frees there too, so one snapshot has both.
  MetricsRecorder& metrics() const noexcept { return metrics_; }
  PressureLevel pressure() const noexcept { return pressure_.level(); }

  // Adds this heap's budget, driver and pressure facts to its figures in a metrics snapshot
  // (MetricsRecorder fills usage only): whoever owns the governors completes the snapshot.
  void describe(HeapFigures& figures) const noexcept;

  // Refreshes the driver figures when the policy says they are stale (cheap otherwise).
  void maybe_refresh() noexcept;
  // Asks the driver now; returns false when another thread is already doing it.
  bool refresh();

 private:
  void after_change();

  Device& device_;
  const HeapInfo& heap_;
  const Config& config_;
  MetricsRecorder& metrics_;
  PressureSubscribers& subscribers_;
  HeapBudget budget_;
  PressureMonitor pressure_;
  std::atomic<bool> soft_warned_{false};
  std::mutex refresh_mutex_;  // one thread refreshes; the others carry on with cached figures
  std::atomic<std::int64_t> refreshed_at_ns_{0};
  std::atomic<std::uint64_t> own_at_refresh_{0};
};

}  // namespace gpumem
