// Memory pressure levels: how close a heap is to its budget.
//
//   if (manager.pressure(heap) >= gpumem::PressureLevel::High) drop_texture_quality();
#pragma once

#include <cstdint>
#include <string_view>

namespace gpumem {

// Ordered so that comparisons read naturally: Low < Medium < High < Critical.
enum class PressureLevel : std::uint8_t { Low = 0, Medium = 1, High = 2, Critical = 3 };

inline constexpr int kPressureLevelCount = 4;

constexpr std::string_view to_string(PressureLevel level) {
  switch (level) {
    case PressureLevel::Low:
      return "low";
    case PressureLevel::Medium:
      return "medium";
    case PressureLevel::High:
      return "high";
    case PressureLevel::Critical:
      return "critical";
  }
  return "unknown";
}

}  // namespace gpumem
