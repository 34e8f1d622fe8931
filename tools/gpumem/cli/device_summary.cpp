#include "cli/device_summary.hpp"

#include <fmt/format.h>

#include "cli/text_table.hpp"
#include "gpumem/backend/registry.hpp"
#include "gpumem/core/error.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/manager.hpp"

namespace gpumem::cli {
namespace {

std::string bytes_or_dash(const std::optional<std::uint64_t>& bytes) {
  return bytes ? format_bytes(*bytes) : "-";
}

}  // namespace

DeviceSummary summarize_device(const std::shared_ptr<Device>& device, const Config& config) {
  const Manager manager(device, config);
  const MetricsSnapshot metrics = manager.metrics();
  DeviceSummary summary{.info = device->info(), .heaps = {}};
  for (const HeapInfo& heap : summary.info.heaps) {
    const BudgetStatus status = manager.budget(heap.index);
    const HeapFigures& figures = metrics.heaps.at(heap.index);
    // The manager reports 0 for "no figure"; the device's description says whether there is one.
    const bool reported = heap.driver_budget.has_value();
    summary.heaps.push_back(
        {.heap = heap,
         .driver_budget = reported ? std::optional(figures.driver_budget) : std::nullopt,
         .driver_usage = reported ? std::optional(figures.driver_usage) : std::nullopt,
         .budget = {.soft = status.soft, .hard = status.hard}});
  }
  return summary;
}

std::string describe_flags(const HeapFlags& flags) {
  std::string out;
  const auto add = [&out](std::string_view word) {
    if (!out.empty()) out += ' ';
    out += word;
  };
  if (flags.device_local) add("device-local");
  if (flags.host_visible) add("host-visible");
  if (flags.host_coherent) add("coherent");
  if (flags.host_cached) add("cached");
  add(flags.dedicated ? "dedicated" : "shared");
  return out;
}

std::string describe_device(const DeviceInfo& info) {
  return fmt::format("{}: backend {}, index {}, type {}", info.name, info.backend, info.index,
                     to_string(info.type));
}

void write_heap_tables(const DeviceSummary& summary, std::ostream& out) {
  if (!summary.info.properties.empty()) {
    TextTable properties({"property", "value"});
    for (const auto& [name, value] : summary.info.properties) properties.add_row({name, value});
    properties.write(out);
    out << '\n';
  }

  using Align = TextTable::Align;
  TextTable heaps({"#", "heap", "kind", "size", "granularity", "flags"},
                  {Align::Right, Align::Left, Align::Left, Align::Right, Align::Right});
  TextTable budgets(
      {"#", "heap", "driver budget", "driver usage", "gpumem soft", "gpumem hard"},
      {Align::Right, Align::Left, Align::Right, Align::Right, Align::Right, Align::Right});
  for (const HeapSummary& h : summary.heaps) {
    const std::string index = std::to_string(h.heap.index);
    heaps.add_row({index, h.heap.name, std::string(to_string(h.heap.kind)),
                   format_bytes(h.heap.size), format_bytes(h.heap.granularity),
                   describe_flags(h.heap.flags)});
    budgets.add_row({index, h.heap.name, bytes_or_dash(h.driver_budget),
                     bytes_or_dash(h.driver_usage), format_bytes(h.budget.soft),
                     format_bytes(h.budget.hard)});
  }
  heaps.write(out);
  out << '\n';
  budgets.write(out);
}

void write_budget_rules(const Config& config, std::ostream& out, std::string_view indent) {
  out << fmt::format(
      "{0}device-local and shared heaps: min({1:g} x driver budget, driver budget - {2})\n"
      "{0}host-visible heaps:            min({3}, driver budget)\n"
      "{0}soft limit:                    {4:g}% of hard\n",
      indent, config.gpu_memory_fraction, format_bytes(config.min_free_bytes),
      format_bytes(config.host_visible_budget), config.soft_limit_fraction * 100.0);
}

std::unique_ptr<Device> open_device_from_spec(std::string_view spec) {
  // Rethrown by type so callers (and the exit code) can still tell bad input from a backend
  // that is missing here.
  try {
    return open_device(spec);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(fmt::format("bad --device '{}': {}", spec, e.what()));
  } catch (const Unsupported& e) {
    throw Unsupported(fmt::format("--device '{}' cannot be opened here: {}", spec, e.what()));
  }
}

}  // namespace gpumem::cli
