// Pressure levels of one heap, with hysteresis and once-per-crossing warnings.
//
// The monitor is fed the heap's usage fraction (usage / hard budget) after every change and
// reports a transition only when a level boundary is crossed: up at the threshold, down only
// `hysteresis` below it. Reading the level is one atomic load: it never calls the driver.
//
//   gpumem::PressureMonitor monitor(config.pressure, config.warning_fractions);
//   if (auto change = monitor.update(0.83); change.transition)
//     fmt::print("{} -> {}\n", to_string(change.transition->from),
//     to_string(change.transition->to));
//
// Thread safety: all methods may be called concurrently; each transition is reported to exactly
// one caller of update().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gpumem/core/config.hpp"
#include "gpumem/core/pressure_level.hpp"

namespace gpumem {

struct PressureTransition {
  PressureLevel from;
  PressureLevel to;
};

struct PressureUpdate {
  std::optional<PressureTransition> transition;
  // Warning fractions crossed upwards by this update (values from the config), lowest first.
  std::vector<double> warnings;
};

class PressureMonitor {
 public:
  explicit PressureMonitor(PressureThresholds thresholds,
                           std::vector<double> warning_fractions = {});

  PressureLevel level() const noexcept { return level_.load(std::memory_order_relaxed); }
  PressureUpdate update(double usage_fraction);

  // The level a heap at `fraction` settles on when it was at `current` before.
  static PressureLevel classify(double fraction, PressureLevel current,
                                const PressureThresholds& thresholds) noexcept;

 private:
  PressureThresholds thresholds_;
  std::vector<double> warning_fractions_;
  std::atomic<PressureLevel> level_{PressureLevel::Low};
  std::atomic<std::uint32_t> warned_{0};  // bit i: warning i given and not yet re-armed
};

// What a pressure subscriber is told on each transition.
struct PressureEvent {
  std::uint32_t heap = 0;
  std::string heap_name;
  PressureLevel from = PressureLevel::Low;
  PressureLevel to = PressureLevel::Low;
  std::uint64_t usage = 0;   // bytes counted against the budget
  std::uint64_t budget = 0;  // the hard limit
};

using PressureCallback = std::function<void(const PressureEvent&)>;

// Subscribers to pressure transitions. Callbacks run on the thread whose allocation or free
// caused the transition, with no gpumem lock held, so they may allocate, free or unsubscribe.
class PressureSubscribers {
 public:
  using Id = std::uint64_t;
  Id subscribe(PressureCallback callback);
  // Returns false when the id is not subscribed (already removed or never given out).
  bool unsubscribe(Id id);
  void notify(const PressureEvent& event) const;

 private:
  mutable std::mutex mutex_;
  Id next_id_ = 1;
  std::vector<std::pair<Id, std::shared_ptr<const PressureCallback>>> callbacks_;
};

}  // namespace gpumem
