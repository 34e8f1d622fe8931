// Section 3 of the demo: pressure levels rising and falling on a heap given a small budget, and
// the BudgetExceeded refusal at its hard limit.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "cli/demo_sections.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/tag.hpp"
#include "gpumem/core/units.hpp"

namespace gpumem::cli {
namespace {

// Small enough for any machine, large enough that 16 MiB steps land in every pressure band.
constexpr BudgetLimits kDemoBudget{.soft = 192 * kMiB, .hard = 256 * kMiB};
constexpr std::uint64_t kChunk = 16 * kMiB;
// A stop in case a device reports a budget far above the configured one: the fill must end.
constexpr std::size_t kMaxChunks = 64;

// The heap Manager::heap_for(DeviceLocal) picks: the first device-local heap, else a shared one.
const HeapInfo* device_heap(const DeviceInfo& info) {
  for (const HeapKind kind : {HeapKind::DeviceLocal, HeapKind::Shared}) {
    for (const HeapInfo& heap : info.heaps) {
      if (heap.kind == kind) return &heap;
    }
  }
  return nullptr;
}

std::string transition_line(const PressureEvent& e) {
  const double percent =
      e.budget == 0 ? 100.0 : 100.0 * static_cast<double>(e.usage) / static_cast<double>(e.budget);
  return fmt::format("  pressure {} -> {}: {} of {} ({:.1f}%)\n", to_string(e.from),
                     to_string(e.to), format_bytes(e.usage), format_bytes(e.budget), percent);
}

}  // namespace

void demo_pressure(const std::shared_ptr<Device>& device, std::ostream& out) {
  write_heading(out, 3, "Pressure and the hard limit");
  const HeapInfo* heap = device_heap(device->info());
  if (heap == nullptr) {
    out << "The device has no device-local or shared heap: nothing to fill.\n";
    return;
  }
  Config config = Config::defaults();
  config.heap_budgets[heap->name] = kDemoBudget;
  // One device block per chunk, so usage follows every allocation and free; the pooling
  // allocators would keep freed chunks cached until trim().
  config.allocators.device = AllocatorKind::Direct;
  const PressureThresholds& t = config.pressure;
  out << fmt::format(
      "A second Manager on the same device, with a small fixed budget for the demo:\n"
      "  Config::heap_budgets[\"{}\"] = {{soft {}, hard {}}}\n"
      "  Config::allocators.device = AllocatorKind::Direct (no caching: usage follows each free)\n"
      "Default thresholds: medium at {:g}%, high at {:g}%, critical at {:g}% of the hard budget,\n"
      "each left again {:g}% below it. manager.on_pressure() prints every transition.\n\n",
      heap->name, format_bytes(kDemoBudget.soft), format_bytes(kDemoBudget.hard), t.medium * 100,
      t.high * 100, t.critical * 100, t.hysteresis * 100);

  std::vector<std::string> path{std::string(to_string(PressureLevel::Low))};
  Manager manager(device, config);
  manager.on_pressure([&](const PressureEvent& event) {
    out << transition_line(event);
    path.emplace_back(to_string(event.to));
  });

  out << fmt::format("Filling '{}' with {} \"streaming\" chunks until gpumem refuses:\n",
                     heap->name, format_bytes(kChunk));
  const Tag streaming("streaming");
  std::vector<Allocation> chunks;
  while (chunks.size() < kMaxChunks) {
    try {
      chunks.push_back(manager.allocate({.size = kChunk, .heap = heap->index, .tag = streaming}));
    } catch (const BudgetExceeded& e) {
      out << fmt::format("  chunk {} refused with gpumem::BudgetExceeded:\n    {}\n",
                         chunks.size() + 1, e.what());
      break;
    }
  }
  out << fmt::format("  {} chunks live: {} of the {} hard budget.\n\nFreeing them, newest first:\n",
                     chunks.size(), format_bytes(manager.budget(heap->index).own),
                     format_bytes(manager.budget(heap->index).hard));
  while (!chunks.empty()) chunks.pop_back();
  out << fmt::format("  all freed; pressure is {}.\n\nLevels seen: ",
                     to_string(manager.pressure(heap->index)));
  for (std::size_t i = 0; i < path.size(); ++i) out << (i == 0 ? "" : " -> ") << path[i];
  out << '\n';
}

}  // namespace gpumem::cli
