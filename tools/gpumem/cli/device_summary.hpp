// What the CLI shows about a device: its description, each heap's driver figures, and the budget
// gpumem would enforce on it with a given Config. Both `gpumem info` and `gpumem demo` print it.
//
//   DeviceSummary summary = summarize_device(device, Config::defaults());
//   write_heap_tables(summary, out);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/config.hpp"

namespace gpumem::cli {

struct HeapSummary {
  HeapInfo heap;
  // Fresh figures from the driver; empty where the API reports none.
  std::optional<std::uint64_t> driver_budget;
  std::optional<std::uint64_t> driver_usage;
  BudgetLimits budget;  // what a Manager with the config enforces on this heap now
};

struct DeviceSummary {
  DeviceInfo info;
  std::vector<HeapSummary> heaps;
};

// Budgets come from a Manager built on the device with `config`, so they are exactly what an
// application would get, driver figures included.
DeviceSummary summarize_device(const std::shared_ptr<Device>& device, const Config& config);

// "device-local host-visible coherent cached dedicated": the flags that are set, and
// "dedicated" or "shared" for where the memory lives.
std::string describe_flags(const HeapFlags& flags);

// One line naming the device: "host (discrete-GPU layout): backend host, index 0, type cpu".
std::string describe_device(const DeviceInfo& info);

// The device's properties, then a heap table and a budget table, indented.
void write_heap_tables(const DeviceSummary& summary, std::ostream& out);

// How `config` turns driver budgets into hard and soft limits, one rule a line, indented.
void write_budget_rules(const Config& config, std::ostream& out, std::string_view indent);

// "host:discrete" and the like: opens a device, adding the spec to any error's message so the
// user sees which part of which argument was wrong.
std::unique_ptr<Device> open_device_from_spec(std::string_view spec);

}  // namespace gpumem::cli
