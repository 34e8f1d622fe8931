#include "gpumem/memory/trace_replay.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <utility>

#include "gpumem/core/error.hpp"
#include "gpumem/core/metrics.hpp"
#include "gpumem/core/pressure.hpp"
#include "gpumem/core/units.hpp"
#include "gpumem/memory/allocator_factory.hpp"
#include "gpumem/memory/heap_governor.hpp"
#include "gpumem/memory/manager.hpp"

namespace gpumem {
namespace {

// Runs the plan's steps over a table of slots, one per live allocation. `allocate(bytes, slot)`
// fills the slot (leaving it empty when nothing was allocated) and says whether it succeeded;
// `release(slot)` frees a non-empty slot. Returns the wall time of the steps in nanoseconds.
// Shared by the allocator and manager replays so both time exactly the same loop.
template <typename Slot, typename Allocate, typename Release>
std::uint64_t run_steps(const ReplayPlan& plan, std::uint64_t heap_size, std::vector<Slot>& slots,
                        Allocate&& allocate, Release&& release, std::uint64_t& failures) {
  const auto start = std::chrono::steady_clock::now();
  try {
    for (const ReplayStep& step : plan.steps) {
      Slot& slot = slots[step.slot];
      if (step.kind == ReplayStep::Kind::Allocate) {
        // Larger than the heap: every allocator would refuse it, and the manager would throw.
        if (step.bytes > heap_size || !allocate(step.bytes, slot)) {
          slot = Slot{};
          ++failures;
        }
      } else if (slot) {
        release(slot);
        slot = Slot{};
      }
    }
  } catch (...) {
    // Leave the device as we found it: an allocator does not free what is live when destroyed.
    for (Slot& slot : slots) {
      if (slot) release(slot);
    }
    throw;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
}

void replay_on_allocator(const ReplayPlan& plan, Device& device, const HeapInfo& heap,
                         AllocatorKind kind, const ReplayOptions& options, ReplayResult& result) {
  MetricsRecorder metrics(device.info().heaps);
  PressureSubscribers subscribers;
  HeapGovernor governor(device, heap.index, options.config, metrics, subscribers);
  governor.refresh();  // as a Manager does when it starts: budgets from the driver's figures
  std::unique_ptr<HeapAllocator> allocator = make_heap_allocator(kind, governor);
  if (options.wrap) {
    allocator = options.wrap(std::move(allocator));
    if (!allocator) throw InvalidArgument("replay: ReplayOptions::wrap returned no allocator");
  }
  result.allocator = std::string(allocator->name());

  HeapAllocator& target = *allocator;
  const std::uint64_t alignment = options.alignment;
  std::vector<Placement> slots(plan.slots);
  result.elapsed_ns = run_steps(
      plan, heap.size, slots,
      [&target, alignment](std::uint64_t bytes, Placement& slot) {
        if (bytes == 0) return true;  // counted, but an allocator takes only positive sizes
        // Not movable: the replayer holds placements and hands them back as they were.
        slot = target.allocate(bytes, alignment, false);
        return static_cast<bool>(slot);
      },
      [&target](const Placement& slot) { target.deallocate(slot); }, result.failures);
  allocator->trim();
  result.peak_reserved = metrics.snapshot().heaps[heap.index].peak_reserved_bytes;
}

void replay_on_manager(const ReplayPlan& plan, Device& device, const HeapInfo& heap,
                       AllocatorKind kind, const ReplayOptions& options, ReplayResult& result) {
  Config config = options.config;
  config.tracking.enabled = options.tracking;
  if (uses_host_visible_budget(heap.kind)) {
    config.allocators.host_visible = kind;
  } else {
    config.allocators.device = kind;
  }
  // The manager shares ownership of its device; this one stays the caller's.
  Manager manager(std::shared_ptr<Device>(std::shared_ptr<Device>(), &device), std::move(config));
  result.allocator = std::string(manager.allocator(heap.index).name());

  AllocationRequest request{
      .alignment = options.alignment, .heap = heap.index, .kind = heap.kind, .movable = false};
  std::vector<AllocationHandle> slots(plan.slots);
  result.elapsed_ns = run_steps(
      plan, heap.size, slots,
      [&manager, &request](std::uint64_t bytes, AllocationHandle& slot) {
        request.size = bytes;
        Allocation allocation = manager.try_allocate(request);
        slot = allocation.release();
        return static_cast<bool>(slot);
      },
      [&manager](const AllocationHandle& slot) { manager.free(slot); }, result.failures);
  manager.trim();
  result.peak_reserved = manager.metrics().heaps[heap.index].peak_reserved_bytes;
}

}  // namespace

ReplayPlan plan_replay(const Trace& trace) {
  ReplayPlan plan;
  plan.trace_name = trace.name;
  plan.steps.reserve(trace.events.size());
  std::unordered_map<std::uint64_t, std::uint32_t> slot_of;  // live trace id -> slot
  std::vector<std::uint32_t> free_slots;  // reused last-freed first, so the table stays warm
  std::vector<std::uint64_t> slot_bytes;
  std::uint64_t live_bytes = 0;
  for (std::size_t i = 0; i < trace.events.size(); ++i) {
    const TraceEvent& event = trace.events[i];
    if (event.kind == TraceEvent::Kind::Allocate) {
      const auto [it, inserted] = slot_of.try_emplace(event.id, 0);
      if (!inserted) {
        throw InvalidArgument(fmt::format("trace '{}': event {} allocates id {}, which is live",
                                          trace.name, i, event.id));
      }
      if (free_slots.empty()) {
        it->second = plan.slots++;
        slot_bytes.push_back(0);
      } else {
        it->second = free_slots.back();
        free_slots.pop_back();
      }
      slot_bytes[it->second] = event.bytes;
      live_bytes += event.bytes;
      plan.peak_live_bytes = std::max(plan.peak_live_bytes, live_bytes);
      ++plan.allocations;
      plan.steps.push_back({.bytes = event.bytes, .slot = it->second});
    } else {
      const auto it = slot_of.find(event.id);
      if (it == slot_of.end()) {
        throw InvalidArgument(fmt::format("trace '{}': event {} frees id {}, which is not live",
                                          trace.name, i, event.id));
      }
      live_bytes -= slot_bytes[it->second];
      free_slots.push_back(it->second);
      plan.steps.push_back({.slot = it->second, .kind = ReplayStep::Kind::Free});
      slot_of.erase(it);
    }
  }
  std::vector<std::pair<std::uint64_t, std::uint32_t>> left(slot_of.begin(), slot_of.end());
  std::sort(left.begin(), left.end());
  for (const auto& [id, slot] : left) {
    plan.steps.push_back({.slot = slot, .kind = ReplayStep::Kind::Free});
  }
  return plan;
}

ReplayResult replay(const ReplayPlan& plan, Device& device, std::uint32_t heap, AllocatorKind kind,
                    const ReplayOptions& options) {
  const HeapInfo& info = device.heap(heap);
  if (!is_power_of_two(options.alignment)) {
    throw InvalidArgument(
        fmt::format("replay: alignment {} is not a power of two", options.alignment));
  }
  options.config.validate();

  ReplayResult result{
      .trace = plan.trace_name,
      .device = options.device_label.empty() ? device.info().name : options.device_label,
      .heap = info.name,
      .through_manager = options.through_manager,
      .alignment = options.alignment,
      .ops = plan.steps.size(),
      .allocs = plan.allocations,
      .peak_live = plan.peak_live_bytes};
  if (options.through_manager) {
    replay_on_manager(plan, device, info, kind, options, result);
  } else {
    replay_on_allocator(plan, device, info, kind, options, result);
  }
  if (result.peak_live != 0) {
    result.reserved_over_live =
        static_cast<double>(result.peak_reserved) / static_cast<double>(result.peak_live);
  }
  if (result.ops != 0) {
    result.ns_per_op = static_cast<double>(result.elapsed_ns) / static_cast<double>(result.ops);
  }
  return result;
}

ReplayResult replay(const Trace& trace, Device& device, std::uint32_t heap, AllocatorKind kind,
                    const ReplayOptions& options) {
  return replay(plan_replay(trace), device, heap, kind, options);
}

}  // namespace gpumem
