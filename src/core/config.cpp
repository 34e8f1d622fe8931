#include "gpumem/core/config.hpp"

#include <fmt/format.h>

#include <cmath>

#include "gpumem/core/error.hpp"

namespace gpumem {
namespace {

void require(bool ok, std::string_view field, const std::string& problem) {
  if (!ok) throw InvalidArgument(fmt::format("invalid Config: {} {}", field, problem));
}

void require_fraction(double value, std::string_view field, bool zero_allowed) {
  const bool ok =
      std::isfinite(value) && (zero_allowed ? value >= 0.0 : value > 0.0) && value <= 1.0;
  require(ok, field, fmt::format("is {} but must lie in {}0, 1]", value, zero_allowed ? "[" : "("));
}

void validate_limits(const std::map<std::string, BudgetLimits>& limits, std::string_view field) {
  for (const auto& [name, l] : limits) {
    const std::string where = fmt::format("{}[\"{}\"]", field, name);
    require(!name.empty(), field, "has an entry with an empty name");
    require(l.hard > 0, where + ".hard", "is 0; a hard limit must be positive");
    require(l.soft <= l.hard, where + ".soft",
            fmt::format("is {} but must not exceed hard ({})", l.soft, l.hard));
  }
}

}  // namespace

std::string_view to_string(AllocatorKind kind) {
  switch (kind) {
    case AllocatorKind::Auto:
      return "auto";
    case AllocatorKind::Direct:
      return "direct";
    case AllocatorKind::Pool:
      return "pool";
    case AllocatorKind::Arena:
      return "arena";
  }
  return "unknown";
}

std::optional<AllocatorKind> parse_allocator_kind(std::string_view name) {
  for (AllocatorKind k :
       {AllocatorKind::Auto, AllocatorKind::Direct, AllocatorKind::Pool, AllocatorKind::Arena}) {
    if (to_string(k) == name) return k;
  }
  return std::nullopt;
}

Config Config::defaults() { return Config{}; }

Config Config::for_inference() {
  Config c;
  c.gpu_memory_fraction = 0.97;
  c.min_free_bytes = 256 * kMiB;
  c.host_visible_budget = 2 * kGiB;  // large staging rings for weight uploads
  c.soft_limit_fraction = 0.95;
  c.pressure = {.medium = 0.70, .high = 0.90, .critical = 0.98, .hysteresis = 0.01};
  c.warning_fractions = {0.90, 0.97};
  c.refresh = {.max_age = std::chrono::milliseconds(2000), .max_bytes = 1 * kGiB};
  c.tracking.enabled = false;
  return c;
}

Config Config::for_constrained() {
  Config c;
  c.gpu_memory_fraction = 0.6;
  c.min_free_bytes = 1 * kGiB;  // the system needs its own memory on a shared heap
  c.host_visible_budget = 256 * kMiB;
  c.soft_limit_fraction = 0.75;
  c.pressure = {.medium = 0.50, .high = 0.70, .critical = 0.90, .hysteresis = 0.03};
  c.warning_fractions = {0.65, 0.85};
  c.refresh = {.max_age = std::chrono::milliseconds(250), .max_bytes = 64 * kMiB};
  return c;
}

void Config::validate() const {
  require_fraction(gpu_memory_fraction, "gpu_memory_fraction", false);
  require(host_visible_budget > 0, "host_visible_budget", "is 0; it must be positive");
  require_fraction(soft_limit_fraction, "soft_limit_fraction", false);
  validate_limits(heap_budgets, "heap_budgets");
  validate_limits(tag_budgets, "tag_budgets");

  require_fraction(pressure.medium, "pressure.medium", false);
  require_fraction(pressure.high, "pressure.high", false);
  require_fraction(pressure.critical, "pressure.critical", false);
  require(pressure.medium < pressure.high && pressure.high < pressure.critical,
          "pressure thresholds",
          fmt::format("must increase (medium {} < high {} < critical {})", pressure.medium,
                      pressure.high, pressure.critical));
  require(std::isfinite(pressure.hysteresis) && pressure.hysteresis >= 0.0 &&
              pressure.hysteresis < pressure.medium,
          "pressure.hysteresis",
          fmt::format("is {} but must lie in [0, pressure.medium)", pressure.hysteresis));
  for (std::size_t i = 0; i < warning_fractions.size(); ++i) {
    const std::string field = fmt::format("warning_fractions[{}]", i);
    require_fraction(warning_fractions[i], field, false);
    if (i > 0) {
      require(warning_fractions[i] > warning_fractions[i - 1], field, "must increase");
    }
  }
  require(refresh.max_age.count() >= 0, "refresh.max_age", "must not be negative");
  require(refresh.max_bytes > 0, "refresh.max_bytes", "is 0; it must be positive");
  require(tracking.stack_depth > 0 && tracking.stack_depth <= 128, "tracking.stack_depth",
          fmt::format("is {} but must lie in [1, 128]", tracking.stack_depth));
}

}  // namespace gpumem
