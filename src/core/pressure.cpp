#include "gpumem/core/pressure.hpp"

#include <utility>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

double entry_threshold(PressureLevel level, const PressureThresholds& t) noexcept {
  switch (level) {
    case PressureLevel::Low:
      return 0.0;
    case PressureLevel::Medium:
      return t.medium;
    case PressureLevel::High:
      return t.high;
    case PressureLevel::Critical:
      return t.critical;
  }
  return 0.0;
}

}  // namespace

PressureMonitor::PressureMonitor(PressureThresholds thresholds,
                                 std::vector<double> warning_fractions)
    : thresholds_(thresholds), warning_fractions_(std::move(warning_fractions)) {
  if (warning_fractions_.size() > 32) {
    throw InvalidArgument("PressureMonitor: at most 32 warning fractions are supported");
  }
}

PressureLevel PressureMonitor::classify(double fraction, PressureLevel current,
                                        const PressureThresholds& thresholds) noexcept {
  int level = static_cast<int>(current);
  while (level + 1 < kPressureLevelCount &&
         fraction >= entry_threshold(static_cast<PressureLevel>(level + 1), thresholds)) {
    ++level;
  }
  while (level > 0 && fraction < entry_threshold(static_cast<PressureLevel>(level), thresholds) -
                                     thresholds.hysteresis) {
    --level;
  }
  return static_cast<PressureLevel>(level);
}

PressureUpdate PressureMonitor::update(double usage_fraction) {
  PressureUpdate result;
  PressureLevel current = level_.load(std::memory_order_relaxed);
  for (;;) {
    const PressureLevel next = classify(usage_fraction, current, thresholds_);
    if (next == current) break;
    if (level_.compare_exchange_weak(current, next, std::memory_order_relaxed)) {
      result.transition = PressureTransition{current, next};
      break;
    }
  }

  for (std::size_t i = 0; i < warning_fractions_.size(); ++i) {
    const std::uint32_t bit = 1u << i;
    const double at = warning_fractions_[i];
    if (usage_fraction >= at) {
      if ((warned_.load(std::memory_order_relaxed) & bit) == 0 &&
          (warned_.fetch_or(bit, std::memory_order_relaxed) & bit) == 0) {
        result.warnings.push_back(at);
      }
    } else if (usage_fraction < at - thresholds_.hysteresis &&
               (warned_.load(std::memory_order_relaxed) & bit) != 0) {
      warned_.fetch_and(~bit, std::memory_order_relaxed);
    }
  }
  return result;
}

PressureSubscribers::Id PressureSubscribers::subscribe(PressureCallback callback) {
  if (!callback) throw InvalidArgument("subscribe: the pressure callback is empty");
  std::lock_guard lock(mutex_);
  const Id id = next_id_++;
  callbacks_.emplace_back(id, std::make_shared<const PressureCallback>(std::move(callback)));
  return id;
}

bool PressureSubscribers::unsubscribe(Id id) {
  std::lock_guard lock(mutex_);
  const auto before = callbacks_.size();
  std::erase_if(callbacks_, [id](const auto& entry) { return entry.first == id; });
  return callbacks_.size() != before;
}

void PressureSubscribers::notify(const PressureEvent& event) const {
  std::vector<std::shared_ptr<const PressureCallback>> targets;
  {
    std::lock_guard lock(mutex_);
    targets.reserve(callbacks_.size());
    for (const auto& entry : callbacks_) targets.push_back(entry.second);
  }
  for (const auto& callback : targets) (*callback)(event);
}

}  // namespace gpumem
