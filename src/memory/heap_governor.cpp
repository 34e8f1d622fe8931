#include "gpumem/memory/heap_governor.hpp"

#include <fmt/format.h>
#include <time.h>

#include "gpumem/core/log.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem {
namespace {

// The refresh policy is checked on every allocation, so it reads the coarse clock: a few
// nanoseconds, with millisecond resolution, which is all a refresh interval needs.
std::int64_t coarse_now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint64_t distance(std::uint64_t a, std::uint64_t b) noexcept { return a > b ? a - b : b - a; }

}  // namespace

HeapGovernor::HeapGovernor(Device& device, std::uint32_t heap, const Config& config,
                           MetricsRecorder& metrics, PressureSubscribers& subscribers)
    : device_(device),
      heap_(device.heap(heap)),
      config_(config),
      metrics_(metrics),
      subscribers_(subscribers),
      budget_(heap_, config),
      pressure_(config.pressure, config.warning_fractions) {}

bool HeapGovernor::reserve(std::uint64_t bytes) noexcept {
  if (!budget_.try_reserve(bytes)) {
    metrics_.count(MetricsRecorder::Event::BudgetRefusal);
    return false;
  }
  metrics_.on_reserve(heap_.index, bytes);
  if (budget_.usage() > budget_.soft() && !soft_warned_.exchange(true)) {
    metrics_.count(MetricsRecorder::Event::SoftLimitCrossing);
    log_message(LogLevel::Warning,
                fmt::format("heap '{}' crossed its soft limit: {} of {} (hard limit {})",
                            heap_.name, format_bytes(budget_.usage()), format_bytes(budget_.soft()),
                            format_bytes(budget_.hard())));
  }
  // No driver refresh here: between this reservation and the device call the driver's usage
  // would not yet include the memory we just counted, and external usage would come out low.
  after_change();
  return true;
}

void HeapGovernor::unreserve(std::uint64_t bytes) noexcept {
  budget_.release(bytes);
  metrics_.on_unreserve(heap_.index, bytes);
  if (budget_.usage() <= budget_.soft()) soft_warned_.store(false);
  after_change();
}

bool HeapGovernor::fits_soft_limit(std::uint64_t bytes) const noexcept {
  const std::uint64_t usage = budget_.usage();
  const std::uint64_t soft = budget_.soft();
  return usage <= soft && bytes <= soft - usage;
}

void HeapGovernor::describe(HeapFigures& figures) const noexcept {
  figures.budget_soft = budget_.soft();
  figures.budget_hard = budget_.hard();
  figures.external_bytes = budget_.external();
  figures.driver_budget = budget_.driver_budget().value_or(0);
  figures.driver_usage = budget_.driver_usage().value_or(0);
  figures.within_budget = budget_.within_budget();
  figures.pressure = pressure();
}

void HeapGovernor::after_change() {
  PressureUpdate update = pressure_.update(budget_.usage_fraction());
  if (!update.transition && update.warnings.empty()) return;
  for (double at : update.warnings) {
    log_message(
        LogLevel::Warning,
        fmt::format("heap '{}' is over {:.0f}% of its budget: {} of {}", heap_.name, at * 100.0,
                    format_bytes(budget_.usage()), format_bytes(budget_.hard())));
  }
  if (update.transition) {
    subscribers_.notify({.heap = heap_.index,
                         .heap_name = heap_.name,
                         .from = update.transition->from,
                         .to = update.transition->to,
                         .usage = budget_.usage(),
                         .budget = budget_.hard()});
  }
}

void HeapGovernor::maybe_refresh() noexcept {
  const std::int64_t now = coarse_now_ns();
  const bool stale = now - refreshed_at_ns_.load(std::memory_order_relaxed) >=
                     std::chrono::nanoseconds(config_.refresh.max_age).count();
  const bool moved =
      distance(budget_.own_usage(), own_at_refresh_.load(std::memory_order_relaxed)) >=
      config_.refresh.max_bytes;
  if (!stale && !moved) return;
  try {
    if (refresh()) after_change();
  } catch (const std::exception& e) {
    // A failing driver query leaves the cached figures in force; the next refresh tries again.
    log_message(LogLevel::Warning,
                fmt::format("heap '{}': driver query failed: {}", heap_.name, e.what()));
  }
}

bool HeapGovernor::refresh() {
  std::unique_lock lock(refresh_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  const HeapReport report = device_.query_heap(heap_.index);
  budget_.update_from_driver(report.budget, report.usage, config_);
  own_at_refresh_.store(budget_.own_usage(), std::memory_order_relaxed);
  refreshed_at_ns_.store(coarse_now_ns(), std::memory_order_relaxed);
  metrics_.count(MetricsRecorder::Event::DriverRefresh);
  return true;
}

}  // namespace gpumem
