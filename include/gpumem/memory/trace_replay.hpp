// Trace replay: runs an allocation trace (core/allocation_trace.hpp) against a heap allocator,
// or a whole Manager, from empty, and measures what the allocator costs in time and in device
// memory: the wall time per event and the peak device memory held over the peak bytes the
// program had live (1.0 is perfect). This is how allocators are compared on real workloads, on
// the simulator as well as on a GPU.
//
//   auto device = gpumem::open_device("sim");
//   gpumem::Trace trace = gpumem::read_trace("bench/traces/gpt2_train.trace.gz");
//   gpumem::ReplayResult r = gpumem::replay(trace, *device, 0, gpumem::AllocatorKind::Auto);
//   fmt::print("{}: {:.0f} ns/op, reserved/live {:.3f}\n", r.allocator, r.ns_per_op,
//              r.reserved_over_live);
//
// Thread safety: replay() may run on several threads at once (each builds its own allocator);
// while one runs, nothing else should allocate from the same heap of the device, or its peak
// and timing include that work. A ReplayPlan is immutable once made.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpumem/backend/device.hpp"
#include "gpumem/core/allocation_trace.hpp"
#include "gpumem/core/config.hpp"
#include "gpumem/memory/heap_allocator.hpp"

namespace gpumem {

// One step of a replay. Trace ids are remapped to dense slots when the plan is made, so the
// timed loop indexes a small table instead of hashing ids.
struct ReplayStep {
  enum class Kind : std::uint8_t { Allocate, Free };
  std::uint64_t bytes = 0;  // 0 for a free
  std::uint32_t slot = 0;
  Kind kind = Kind::Allocate;
};

// A trace made ready to replay: the trace's events followed by the frees of the allocations it
// leaves live (lowest id first), every id mapped to a slot that is reused once freed.
struct ReplayPlan {
  std::string trace_name;
  std::vector<ReplayStep> steps;  // steps.size() is the "events" count of the traces' README
  std::uint32_t slots = 0;        // the most allocations live at once
  std::uint64_t allocations = 0;
  std::uint64_t peak_live_bytes = 0;  // the largest sum of live requested bytes
};

// Throws InvalidArgument naming the event index when the events are not a valid trace (an id
// allocated while live or freed while not live), like summarize().
ReplayPlan plan_replay(const Trace& trace);

struct ReplayOptions {
  // Of every allocation; a power of two.
  std::uint64_t alignment = 256;
  // Budgets and thresholds of the heap. `allocators` is ignored: the kind argument decides.
  Config config = Config::defaults();
  // Replays through a gpumem::Manager (budget checks, registry, metrics, driver refresh) instead
  // of the bare allocator, to measure the cost of the whole manager.
  bool through_manager = false;
  // With through_manager: whether the manager keeps creation times (Config::tracking.enabled,
  // overriding `config`). Off by default: a replay measures allocation, not leak hunting.
  bool tracking = false;
  // What the result calls the device (e.g. the spec it was opened with); the device's name when
  // empty.
  std::string device_label;
  // Without through_manager: wraps the allocator before the replay (e.g. in a RecordingAllocator
  // to capture what the replay did). Called once per replay, outside the timed region.
  std::function<std::unique_ptr<HeapAllocator>(std::unique_ptr<HeapAllocator>)> wrap;
};

struct ReplayResult {
  std::string trace;
  std::string device;
  std::string heap;       // the heap's name
  std::string allocator;  // the kind the allocator resolved to, e.g. "direct" for auto
  bool through_manager = false;
  std::uint64_t alignment = 0;
  // Events replayed: the trace's records plus the frees of what it leaves live. Frees of
  // allocations that failed are counted too, though they have nothing to do.
  std::uint64_t ops = 0;
  std::uint64_t allocs = 0;  // allocation events, 0-byte and failed ones included
  // The trace's peak live requested bytes. With failures, more than was really live.
  std::uint64_t peak_live = 0;
  // The high-water mark of device memory the heap held (blocks or pages, cached ones included),
  // as the heap's governor counts every reservation: exact, and free for the timed loop.
  std::uint64_t peak_reserved = 0;
  double reserved_over_live = 0.0;  // peak_reserved / peak_live; 0 when peak_live is 0
  std::uint64_t elapsed_ns = 0;     // wall time of all the steps (steady_clock)
  double ns_per_op = 0.0;           // elapsed_ns / ops
  // Allocations refused (by the budget or the device, or larger than the heap). The replay goes
  // on; the frees of refused allocations are skipped.
  std::uint64_t failures = 0;
};

// Replays from an empty allocator of `kind` on `heap` of `device`, then gives back what the
// allocator cached, leaving the device as it found it. A 0-byte allocation is counted but takes
// nothing from the allocator (whose sizes must be positive); through the Manager it is a real
// 0-byte allocation, which also holds no memory.
// Throws InvalidArgument for a bad heap, alignment or config (naming it), Unsupported when the
// device cannot have that allocator, and what plan_replay() throws.
ReplayResult replay(const ReplayPlan& plan, Device& device, std::uint32_t heap, AllocatorKind kind,
                    const ReplayOptions& options = {});
ReplayResult replay(const Trace& trace, Device& device, std::uint32_t heap, AllocatorKind kind,
                    const ReplayOptions& options = {});

}  // namespace gpumem
