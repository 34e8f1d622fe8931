// Configuration of a memory manager: budgets, pressure thresholds, driver refresh and tracking.
//
// Start from a preset and override what differs; the manager validates the whole Config when it
// is constructed and rejects a bad one with InvalidArgument naming the field.
//
//   gpumem::Config config = gpumem::Config::for_inference();
//   config.min_free_bytes = 1 * gpumem::kGiB;
//   config.tag_budgets["textures"] = {.soft = 2 * gpumem::kGiB, .hard = 3 * gpumem::kGiB};
//   gpumem::Manager manager(device, config);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/core/units.hpp"

namespace gpumem {

struct LeakReport;

// A fixed soft and hard limit in bytes. 0 as a soft limit means "no soft limit".
struct BudgetLimits {
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

// Pressure is usage over the heap's hard budget; a level is entered at its threshold and left
// only when usage falls `hysteresis` below it, so a level does not flap around a threshold.
struct PressureThresholds {
  double medium = 0.60;
  double high = 0.80;
  double critical = 0.95;
  double hysteresis = 0.02;
};

// When cached driver figures are refreshed: whichever comes first. Pressure queries never call
// the driver; allocations refresh when the figures are older than max_age or when the manager's
// own usage moved by more than max_bytes since the last refresh.
struct DriverRefreshPolicy {
  std::chrono::milliseconds max_age{500};
  std::uint64_t max_bytes = 256 * kMiB;
};

struct TrackingConfig {
  bool enabled = true;                   // creation times (for age-based leak suspects)
  std::uint32_t stack_sample_every = 0;  // capture the call stack of every Nth allocation; 0: off
  std::uint32_t stack_depth = 24;        // frames kept per captured stack
};

// How a heap's memory is carved up (see memory/heap_allocator.hpp). Auto picks the best the
// device supports: the page-mapped arena where it has virtual memory management, else pools.
enum class AllocatorKind : std::uint8_t { Auto, Direct, Pool, Arena };

std::string_view to_string(AllocatorKind kind);
std::optional<AllocatorKind> parse_allocator_kind(std::string_view name);

struct AllocatorChoice {
  AllocatorKind device = AllocatorKind::Auto;        // device-local and shared heaps
  AllocatorKind host_visible = AllocatorKind::Auto;  // upload, readback, pinned host heaps
};

struct Config {
  // Device-local and shared heaps: hard budget = min(fraction × driver budget,
  // driver budget − min_free_bytes).
  double gpu_memory_fraction = 0.9;
  std::uint64_t min_free_bytes = 512 * kMiB;
  // Host-visible heaps (upload, readback, pinned): hard budget = min(this, driver budget).
  std::uint64_t host_visible_budget = 512 * kMiB;
  // Soft limit of computed budgets, as a fraction of the hard limit: crossing it logs a warning.
  double soft_limit_fraction = 0.85;

  // Fixed limits for named heaps, replacing the computed ones: what this manager may hold there,
  // not counting memory others use (capped at the driver budget).
  std::map<std::string, BudgetLimits> heap_budgets;
  // Limits per user tag, summed over all heaps.
  std::map<std::string, BudgetLimits> tag_budgets;

  PressureThresholds pressure;
  // Usage fractions at which a warning is logged once per upward crossing.
  std::vector<double> warning_fractions{0.75, 0.90};
  DriverRefreshPolicy refresh;
  TrackingConfig tracking;
  AllocatorChoice allocators;

  // Called with the leak report when a manager is destroyed with allocations still live;
  // when empty, the report is logged as a warning.
  std::function<void(const LeakReport&)> on_leak;

  // Balanced defaults for applications sharing the GPU with others.
  static Config defaults();
  // Maximum use of a dedicated GPU: larger fraction, smaller margins, rarer refreshes.
  static Config for_inference();
  // Integrated GPUs and small devices: memory is shared with the system, so leave more of it.
  static Config for_constrained();

  // Throws InvalidArgument naming the first field out of range.
  void validate() const;
};

}  // namespace gpumem
